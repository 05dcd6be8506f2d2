package plot

import (
	"image/color"
	"math"
	"testing"
)

// TestLinesColoursEachSeries: every series' colour appears, and bad input
// is an error.
func TestLinesColoursEachSeries(t *testing.T) {
	xs := []float64{1, 2, 3, 4}
	img, err := Lines(xs, []Series{
		{"conv1", []float64{0.3, 0.2, 0.1, 0}},
		{"fc1", []float64{0.5, math.NaN(), 0.2, 0}},
		{"fc2", []float64{0.1, 0.1, 0.05, 0}},
	}, CurveOptions{Title: "distance", XLabel: "checkpoint"})
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	for k := range 3 {
		want := seriesColours[k]
		n := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == want {
					n++
				}
			}
		}
		if n < 20 {
			t.Errorf("series %d: %d pixels of its colour", k, n)
		}
	}
	if _, err := Lines(xs, []Series{{"a", []float64{1}}}, CurveOptions{}); err == nil {
		t.Error("3 x values short: no error")
	}
	if _, err := Lines(xs, nil, CurveOptions{}); err == nil {
		t.Error("no series: no error")
	}
	if _, err := Lines(xs, []Series{{"a", []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN()}}}, CurveOptions{}); err == nil {
		t.Error("no finite point: no error")
	}
}

package plot

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"testing"
)

// TestHeatmapColoursCells checks that each cell takes the colour of its
// value on the scale, that NaN cells are grey, and that the image encodes
// and decodes as PNG.
func TestHeatmapColoursCells(t *testing.T) {
	m := []float64{0, 0.5, 1, math.NaN()}
	img, err := Heatmap(m, 2, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	cell := max(4, min(40, 480/2))
	left, top := 6*charW+4, 4
	for i, v := range m {
		r, c := i/2, i%2
		x, y := left+c*cell+cell/2, top+r*cell+cell/2
		got := img.At(x, y)
		want := viridis(v)
		gr, gg, gb, _ := got.RGBA()
		if uint8(gr>>8) != want.R || uint8(gg>>8) != want.G || uint8(gb>>8) != want.B {
			t.Errorf("cell %d (%v): colour %v, want %v", i, v, got, want)
		}
	}
	var buf bytes.Buffer
	if err := WritePNG(&buf, img); err != nil {
		t.Fatal(err)
	}
	back, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Bounds() != img.Bounds() {
		t.Errorf("decoded bounds %v, want %v", back.Bounds(), img.Bounds())
	}
}

// TestSpectrumIsMonotoneLine checks that a decreasing spectrum is drawn as
// points going down from left to right.
func TestSpectrumIsMonotoneLine(t *testing.T) {
	vals := []float64{1e3, 1e2, 10, 1, 0.1, 0} // 0 goes to the floor
	img, err := Spectrum(vals)
	if err != nil {
		t.Fatal(err)
	}
	rgba := img.(*image.RGBA)
	// The lowest blue pixel in each column should not rise left to right.
	prev := -1
	for x := rgba.Bounds().Min.X; x < rgba.Bounds().Max.X; x++ {
		low := -1
		for y := rgba.Bounds().Min.Y; y < rgba.Bounds().Max.Y; y++ {
			if c := rgba.RGBAAt(x, y); c.R == 31 && c.G == 119 && c.B == 180 {
				low = y
			}
		}
		if low < 0 {
			continue
		}
		if low+2 < prev {
			t.Fatalf("line rises at x=%d (y %d after %d)", x, low, prev)
		}
		prev = low
	}
	if prev < 0 {
		t.Fatal("no line drawn")
	}
}

func TestBadInput(t *testing.T) {
	if _, err := Heatmap([]float64{1, 2, 3}, 2, 2, 0, 1); err == nil {
		t.Error("heatmap of 3 values as 2×2: no error")
	}
	if _, err := Spectrum(nil); err == nil {
		t.Error("empty spectrum: no error")
	}
	if _, err := Spectrum([]float64{0, -1, math.NaN()}); err == nil {
		t.Error("spectrum without positive values: no error")
	}
}

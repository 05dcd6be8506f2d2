package plot

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

// TestLabelledHeatmap checks that the values are written into their
// cells (in white on the dark end of the scale, black on the light end),
// that a NaN cell stays blank and grey, and that a matrix of the wrong
// size is an error.
func TestLabelledHeatmap(t *testing.T) {
	m := []float64{10, 90, math.NaN(), 50}
	img, err := LabelledHeatmap(m, 2, 2, HeatmapOptions{Title: "top-1", RowLabels: []string{"pool1", "relu3"}, ColLabels: []string{"pool1", "a.very.long.layer.name"},
		Format: func(v float64) string { return "88.8" }})
	if err != nil {
		t.Fatal(err)
	}
	rgba := img.(*image.RGBA)
	// Count the colours inside each cell: the scale's colour, and the ink
	// of the digits if any. Cells are found as the pixels of their colour.
	inks := map[int]map[color.RGBA]bool{}
	for i, v := range m {
		bg := viridis((v - 10) / 80)
		inks[i] = map[color.RGBA]bool{}
		found := false
		b := rgba.Bounds()
		for y := b.Min.Y; y < b.Max.Y && !found; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if rgba.RGBAAt(x, y) != bg {
					continue
				}
				found = true
				// Scan the square below and right of the cell's corner.
				for dy := 0; dy < charH+6; dy++ {
					for dx := 0; dx < 4*charW+6; dx++ {
						inks[i][rgba.RGBAAt(x+dx, y+dy)] = true
					}
				}
				break
			}
		}
		if !found {
			t.Fatalf("cell %d (%v): colour %v not drawn", i, v, bg)
		}
	}
	white, black := color.RGBA{255, 255, 255, 255}, color.RGBA{0, 0, 0, 255}
	if !inks[0][white] {
		t.Errorf("dark cell (10): no white digits")
	}
	if !inks[1][black] {
		t.Errorf("light cell (90): no black digits")
	}
	if inks[2][white] || inks[2][black] {
		t.Errorf("NaN cell: digits drawn")
	}
	if _, err := LabelledHeatmap(m, 3, 2, HeatmapOptions{}); err == nil || !strings.Contains(err.Error(), "not 3×2") {
		t.Errorf("wrong size: error %v", err)
	}
}

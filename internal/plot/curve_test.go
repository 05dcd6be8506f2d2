package plot

import (
	"image"
	"math"
	"testing"
)

// curvePixels counts the pixels in the line's colour.
func curvePixels(img image.Image) int {
	rgba := img.(*image.RGBA)
	n := 0
	for y := rgba.Bounds().Min.Y; y < rgba.Bounds().Max.Y; y++ {
		for x := rgba.Bounds().Min.X; x < rgba.Bounds().Max.X; x++ {
			if c := rgba.RGBAAt(x, y); c.R == 31 && c.G == 119 && c.B == 180 {
				n++
			}
		}
	}
	return n
}

// TestCurve draws curves of various shapes: each is 640×400 and has line
// pixels; NaN, infinite and (on log axes) non-positive points are left
// out rather than failing the plot.
func TestCurve(t *testing.T) {
	inf := math.Inf(1)
	cases := []struct {
		name   string
		xs, ys []float64
		o      CurveOptions
	}{
		{"falling_loss", []float64{1, 2, 3, 4, 5}, []float64{2.3, 1.2, 0.8, 0.6, 0.55}, CurveOptions{Title: "loss", XLabel: "step"}},
		{"single_point", []float64{7}, []float64{0.25}, CurveOptions{Title: "accuracy"}},
		{"constant", []float64{0, 1, 2}, []float64{3, 3, 3}, CurveOptions{}},
		{"nan_and_inf_skipped", []float64{1, 2, 3, 4}, []float64{1, math.NaN(), inf, 0.5}, CurveOptions{}},
		{"log_y_skips_zero", []float64{1, 2, 3}, []float64{1e-4, 0, 1e-1}, CurveOptions{Title: "lr", LogY: true}},
		{"lr_range_test", []float64{1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1}, []float64{2.3, 2.3, 2.1, 1.5, 1.1, 3, math.NaN()}, CurveOptions{Title: "loss", XLabel: "lr", LogX: true}},
		{"many_points", ramp(5000), ramp(5000), CurveOptions{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := Curve(c.xs, c.ys, c.o)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 400 {
				t.Errorf("size %v, want 640×400", b.Size())
			}
			if curvePixels(img) == 0 {
				t.Error("no line pixels")
			}
		})
	}
}

func ramp(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i)
	}
	return v
}

// TestCurveRises checks the vertical direction: for an increasing series
// the topmost line pixel of each column does not move down as x grows.
func TestCurveRises(t *testing.T) {
	img, err := Curve([]float64{0, 1, 2, 3}, []float64{0, 1, 4, 9}, CurveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rgba := img.(*image.RGBA)
	prev := -1
	for x := rgba.Bounds().Min.X; x < rgba.Bounds().Max.X; x++ {
		for y := rgba.Bounds().Min.Y; y < rgba.Bounds().Max.Y; y++ {
			if c := rgba.RGBAAt(x, y); c.R == 31 && c.G == 119 && c.B == 180 {
				// 2 pixels of slack: the dots are 3 wide.
				if prev >= 0 && y > prev+2 {
					t.Fatalf("line falls at x=%d (y %d after %d)", x, y, prev)
				}
				prev = y
				break
			}
		}
	}
}

func TestCurveBadInput(t *testing.T) {
	cases := []struct {
		name   string
		xs, ys []float64
		o      CurveOptions
	}{
		{"length_mismatch", []float64{1, 2}, []float64{1}, CurveOptions{}},
		{"empty", nil, nil, CurveOptions{}},
		{"all_nan", []float64{1, 2}, []float64{math.NaN(), math.NaN()}, CurveOptions{}},
		{"log_of_nonpositive", []float64{1, 2}, []float64{0, -1}, CurveOptions{LogY: true}},
	}
	for _, c := range cases {
		if _, err := Curve(c.xs, c.ys, c.o); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// TestGlyphFallback checks that lower-case letters borrow the capitals'
// glyphs, except the exponent's e, and that unknown runes are blank.
func TestGlyphFallback(t *testing.T) {
	if g, ok := glyph('s'); !ok || g != glyphs['S'] {
		t.Errorf("'s' drawn as %v, want the capital", g)
	}
	if g, _ := glyph('e'); g != glyphs['e'] {
		t.Errorf("'e' drawn as %v, want the exponent glyph", g)
	}
	if _, ok := glyph('λ'); ok {
		t.Error("'λ' has a glyph")
	}
}

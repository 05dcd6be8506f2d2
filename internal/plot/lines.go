package plot

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"
)

// Series is one named line of a Lines plot.
type Series struct {
	Name string
	Ys   []float64 // one value per x; NaN leaves a gap
}

// seriesColours are the line colours, in turn (matplotlib's tab10).
var seriesColours = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// Lines draws several series against the same xs, each in its own colour
// (ten colours, then they repeat) with a dot at each point, and a legend
// of colour swatches and names to the right of the plot. A NaN or
// infinite value leaves a gap in its line. Axes are labelled as in Curve
// (linear only).
func Lines(xs []float64, series []Series, o CurveOptions) (image.Image, error) {
	if len(series) == 0 {
		return nil, fmt.Errorf("plot: %q has no series", o.Title)
	}
	ok := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	first := true
	var xlo, xhi, ylo, yhi float64
	for _, s := range series {
		if len(s.Ys) != len(xs) {
			return nil, fmt.Errorf("plot: series %q has %d values for %d x values", s.Name, len(s.Ys), len(xs))
		}
		for i, y := range s.Ys {
			if !ok(xs[i]) || !ok(y) {
				continue
			}
			if first {
				xlo, xhi, ylo, yhi, first = xs[i], xs[i], y, y, false
			}
			xlo, xhi = math.Min(xlo, xs[i]), math.Max(xhi, xs[i])
			ylo, yhi = math.Min(ylo, y), math.Max(yhi, y)
		}
	}
	if first {
		return nil, fmt.Errorf("plot: %q has no finite point to draw", o.Title)
	}
	xa, xb := widen(xlo, xhi)
	ya, yb := widen(ylo, yhi)
	pad := 0.05 * (yb - ya)
	ya, yb = ya-pad, yb+pad

	legendW := 0
	for _, s := range series {
		legendW = max(legendW, len(s.Name))
	}
	legendW = min(legendW, 24)*charW + 3*charW
	const w0, h = 640, 400
	w := w0 + legendW
	left, right := 9*charW+6, 3*charW+legendW
	top, bottom := charH+12, 2*charH+14
	pw, ph := w-left-right, h-top-bottom
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.White)
	title := strings.ToUpper(o.Title)
	text(img, (w-legendW-len(title)*charW)/2, 4, title)

	px := func(x float64) int { return left + int(math.Round(float64(pw-1)*(x-xa)/(xb-xa))) }
	py := func(y float64) int { return top + int(math.Round(float64(ph-1)*(yb-y)/(yb-ya))) }
	grid := color.RGBA{225, 225, 225, 255}
	for _, v := range ticks(ylo, yhi) {
		y := py(v)
		fill(img, image.Rect(left+1, y, left+pw, y+1), grid)
		label := short(v)
		text(img, max(0, left-4-len(label)*charW), y-charH/2, label)
	}
	for _, v := range ticks(xlo, xhi) {
		x := px(v)
		fill(img, image.Rect(x, top, x+1, top+ph), grid)
		label := short(v)
		text(img, min(max(0, x-len(label)*charW/2), w-len(label)*charW), top+ph+4, label)
	}
	axis := color.RGBA{0, 0, 0, 255}
	fill(img, image.Rect(left, top, left+1, top+ph), axis)
	fill(img, image.Rect(left, top+ph, left+pw, top+ph+1), axis)
	xlabel := strings.ToUpper(o.XLabel)
	text(img, left+(pw-len(xlabel)*charW)/2, top+ph+charH+8, xlabel)

	for k, s := range series {
		c := seriesColours[k%len(seriesColours)]
		prev := -1
		for i, y := range s.Ys {
			if !ok(xs[i]) || !ok(y) {
				prev = -1
				continue
			}
			x, yy := px(xs[i]), py(y)
			if prev >= 0 {
				segment(img, px(xs[prev]), py(s.Ys[prev]), x, yy, c)
			}
			fill(img, image.Rect(x-1, yy-1, x+2, yy+2), c)
			prev = i
		}
		// Legend: a swatch and the name, one row per series.
		lx, ly := left+pw+2*charW, top+k*(charH+4)
		if ly+charH > h {
			continue
		}
		fill(img, image.Rect(lx, ly+charH/2-2, lx+charW+2, ly+charH/2+2), c)
		name := s.Name
		if len(name) > 24 {
			name = "." + name[len(name)-23:]
		}
		text(img, lx+2*charW, ly, strings.ToUpper(name))
	}
	return img, nil
}

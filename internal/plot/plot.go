// Package plot draws the figures graft writes next to its numbers: a
// heatmap of a matrix (layer-by-layer similarity), a line plot of a
// spectrum on a logarithmic axis (NTK eigenvalues), and a curve of one
// quantity against another (a run's loss or learning rate against the
// step). The figures are plain PNG images built with the standard
// library; the numbers themselves go to JSON or CSV, so the figures carry
// only what a glance needs: cells coloured by value, a colour bar, and
// tick labels and titles in a small bitmap font.
package plot

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
)

// Heatmap draws m (rows × cols, row-major) with one square cell per entry,
// coloured from lo (dark blue) to hi (yellow); NaN cells are grey. Row and
// column indices are written along the axes and lo/hi beside the colour
// bar; the caller's JSON or CSV names the rows and columns.
func Heatmap(m []float64, rows, cols int, lo, hi float64) (image.Image, error) {
	if rows < 1 || cols < 1 || len(m) != rows*cols {
		return nil, fmt.Errorf("plot: heatmap of %d values is not %d×%d", len(m), rows, cols)
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	cell := max(4, min(40, 480/max(rows, cols)))
	left, top := 6*charW+4, 4
	barW := 12
	w := left + cols*cell + 8 + barW + 8*charW
	h := top + rows*cell + 2*charH + 8
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.White)
	for r := range rows {
		for c := range cols {
			col := viridis((m[r*cols+c] - lo) / (hi - lo))
			fill(img, image.Rect(left+c*cell, top+r*cell, left+(c+1)*cell, top+(r+1)*cell), col)
		}
	}
	// Indices every few cells, so that they do not overlap.
	every := max(1, (charW*4)/cell+1)
	for r := 0; r < rows; r += every {
		text(img, 2, top+r*cell+(cell-charH)/2, fmt.Sprint(r))
	}
	for c := 0; c < cols; c += every {
		text(img, left+c*cell+(cell-charW)/2, top+rows*cell+4, fmt.Sprint(c))
	}
	// Colour bar from hi (top) to lo (bottom).
	bx := left + cols*cell + 8
	bh := rows * cell
	for y := range bh {
		fill(img, image.Rect(bx, top+y, bx+barW, top+y+1), viridis(1-float64(y)/float64(max(1, bh-1))))
	}
	text(img, bx+barW+2, top, short(hi))
	text(img, bx+barW+2, top+bh-charH, short(lo))
	return img, nil
}

// Spectrum draws values (for example eigenvalues, largest first) against
// their index on a log10 vertical axis; values at or below zero are drawn
// at the axis floor, 1e-12 of the largest.
func Spectrum(values []float64) (image.Image, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("plot: empty spectrum")
	}
	top := math.Inf(-1)
	for _, v := range values {
		if v > top {
			top = v
		}
	}
	if !(top > 0) || math.IsInf(top, 1) {
		return nil, fmt.Errorf("plot: spectrum has no finite positive value")
	}
	floor := top * 1e-12
	lmin, lmax := math.Log10(top), math.Log10(top)
	for _, v := range values {
		lmin = math.Min(lmin, math.Log10(math.Max(v, floor)))
	}
	lmin, lmax = math.Floor(lmin), math.Ceil(lmax)
	if lmax == lmin {
		lmax++
	}
	const w, h = 640, 400
	left, bottom, right, topPad := 7*charW+6, 2*charH+8, 12, 8
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.White)
	pw, ph := w-left-right, h-bottom-topPad
	axis := color.RGBA{0, 0, 0, 255}
	fill(img, image.Rect(left, topPad, left+1, topPad+ph), axis)
	fill(img, image.Rect(left, topPad+ph, left+pw, topPad+ph+1), axis)
	grid := color.RGBA{225, 225, 225, 255}
	for d := lmin; d <= lmax; d++ {
		y := topPad + int(float64(ph)*(lmax-d)/(lmax-lmin))
		fill(img, image.Rect(left+1, y, left+pw, y+1), grid)
		text(img, 2, y-charH/2, fmt.Sprintf("1e%d", int(d)))
	}
	text(img, left, topPad+ph+4, "0")
	last := fmt.Sprint(len(values) - 1)
	text(img, left+pw-len(last)*charW, topPad+ph+4, last)
	line := color.RGBA{31, 119, 180, 255}
	px, py := -1, -1
	for i, v := range values {
		x := left + 1
		if len(values) > 1 {
			x += int(float64(pw-2) * float64(i) / float64(len(values)-1))
		}
		y := topPad + int(float64(ph)*(lmax-math.Log10(math.Max(v, floor)))/(lmax-lmin))
		if px >= 0 {
			segment(img, px, py, x, y, line)
		}
		fill(img, image.Rect(x-1, y-1, x+2, y+2), line)
		px, py = x, y
	}
	return img, nil
}

// WritePNG encodes img to w.
func WritePNG(w io.Writer, img image.Image) error { return png.Encode(w, img) }

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.Set(x, y, c)
		}
	}
}

// segment draws a straight line from (x0, y0) to (x1, y1).
func segment(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		img.Set(x0+(x1-x0)*i/n, y0+(y1-y0)*i/n, c)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// short formats v in at most about seven characters.
func short(v float64) string {
	if a := math.Abs(v); a != 0 && (a < 1e-3 || a >= 1e5) {
		return fmt.Sprintf("%.1e", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// viridis maps t in [0, 1] (clamped) to a colour from dark blue through
// green to yellow, interpolating a few stops of the perceptually uniform
// viridis scale; NaN is grey.
func viridis(t float64) color.RGBA {
	if math.IsNaN(t) {
		return color.RGBA{160, 160, 160, 255}
	}
	stops := [...][3]float64{
		{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37},
	}
	t = math.Max(0, math.Min(1, t))
	f := t * float64(len(stops)-1)
	i := min(int(f), len(stops)-2)
	u := f - float64(i)
	var c [3]uint8
	for k := range c {
		c[k] = uint8(math.Round(stops[i][k]*(1-u) + stops[i+1][k]*u))
	}
	return color.RGBA{c[0], c[1], c[2], 255}
}

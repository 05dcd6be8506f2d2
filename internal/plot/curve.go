package plot

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"
)

// CurveOptions are the labels and axis scales of a Curve.
type CurveOptions struct {
	Title  string // drawn above the plot, in capitals, with "(log scale)" for LogY
	XLabel string // drawn below the x axis, in capitals, with "(log scale)" for LogX
	LogX   bool   // log10 horizontal axis; points with x ≤ 0 are left out
	LogY   bool   // log10 vertical axis; points with y ≤ 0 are left out
}

// Curve draws ys against xs as a line through the points, in the order
// given (a loss against the step, or against the learning rate of a
// range test with LogX). Points with a NaN or infinite coordinate, or a
// non-positive one on a log axis, are left out and their neighbours
// joined. Each axis is labelled with the smallest, middle and largest
// value drawn (the middle one geometric on a log axis); the numbers
// themselves belong in the caller's JSON. A single point is drawn as a
// dot in the middle of its axis range.
func Curve(xs, ys []float64, o CurveOptions) (image.Image, error) {
	if len(xs) != len(ys) {
		return nil, fmt.Errorf("plot: curve of %d x and %d y values", len(xs), len(ys))
	}
	type point struct{ x, y float64 }
	var pts []point
	for i := range xs {
		x, ok := axisValue(xs[i], o.LogX)
		if !ok {
			continue
		}
		y, ok := axisValue(ys[i], o.LogY)
		if !ok {
			continue
		}
		pts = append(pts, point{x, y})
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("plot: curve %q has no finite point to draw", o.Title)
	}
	xlo, xhi, ylo, yhi := pts[0].x, pts[0].x, pts[0].y, pts[0].y
	for _, p := range pts {
		xlo, xhi = math.Min(xlo, p.x), math.Max(xhi, p.x)
		ylo, yhi = math.Min(ylo, p.y), math.Max(yhi, p.y)
	}
	// The drawn ranges: widened around a single value, and the vertical
	// one padded by 5 % so that the line does not run along the frame.
	xa, xb := widen(xlo, xhi)
	ya, yb := widen(ylo, yhi)
	pad := 0.05 * (yb - ya)
	ya, yb = ya-pad, yb+pad

	const w, h = 640, 400
	left, right := 9*charW+6, 3*charW
	top, bottom := charH+12, 2*charH+14
	pw, ph := w-left-right, h-top-bottom
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.White)
	title := strings.ToUpper(o.Title)
	if o.LogY {
		title += " (LOG SCALE)"
	}
	text(img, (w-len(title)*charW)/2, 4, title)

	px := func(x float64) int { return left + int(math.Round(float64(pw-1)*(x-xa)/(xb-xa))) }
	py := func(y float64) int { return top + int(math.Round(float64(ph-1)*(yb-y)/(yb-ya))) }
	grid := color.RGBA{225, 225, 225, 255}
	for _, v := range ticks(ylo, yhi) {
		y := py(v)
		fill(img, image.Rect(left+1, y, left+pw, y+1), grid)
		label := short(axisLabel(v, o.LogY))
		text(img, max(0, left-4-len(label)*charW), y-charH/2, label)
	}
	for _, v := range ticks(xlo, xhi) {
		x := px(v)
		fill(img, image.Rect(x, top, x+1, top+ph), grid)
		label := short(axisLabel(v, o.LogX))
		lx := min(max(0, x-len(label)*charW/2), w-len(label)*charW)
		text(img, lx, top+ph+4, label)
	}
	axis := color.RGBA{0, 0, 0, 255}
	fill(img, image.Rect(left, top, left+1, top+ph), axis)
	fill(img, image.Rect(left, top+ph, left+pw, top+ph+1), axis)
	xlabel := strings.ToUpper(o.XLabel)
	if o.LogX {
		xlabel += " (LOG SCALE)"
	}
	text(img, left+(pw-len(xlabel)*charW)/2, top+ph+charH+8, xlabel)

	line := color.RGBA{31, 119, 180, 255}
	dots := len(pts) <= 60
	for i, p := range pts {
		x, y := px(p.x), py(p.y)
		if i > 0 {
			segment(img, px(pts[i-1].x), py(pts[i-1].y), x, y, line)
		}
		if dots {
			fill(img, image.Rect(x-1, y-1, x+2, y+2), line)
		}
	}
	return img, nil
}

// axisValue maps v to its position on a linear or log10 axis; ok is false
// when v cannot be drawn there.
func axisValue(v float64, log bool) (float64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	if log {
		if v <= 0 {
			return 0, false
		}
		return math.Log10(v), true
	}
	return v, true
}

// axisLabel undoes axisValue for a tick label.
func axisLabel(v float64, log bool) float64 {
	if log {
		return math.Pow(10, v)
	}
	return v
}

// widen returns lo, hi, or a unit-wide range around them when they are
// equal.
func widen(lo, hi float64) (float64, float64) {
	if hi > lo {
		return lo, hi
	}
	d := math.Max(math.Abs(lo)*0.1, 0.5)
	return lo - d, hi + d
}

// ticks are the smallest, middle and largest value, or the one value.
func ticks(lo, hi float64) []float64 {
	if hi > lo {
		return []float64{lo, (lo + hi) / 2, hi}
	}
	return []float64{lo}
}

package plot

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"
)

// HeatmapOptions label a LabelledHeatmap.
type HeatmapOptions struct {
	// Title is drawn above the matrix (in the font's capitals).
	Title string
	// RowTitle and ColTitle name the axes ("A's layer", "B's layer").
	RowTitle, ColTitle string
	// RowLabels and ColLabels name each row and column; nil means their
	// indices. A label is cut to MaxLabel characters.
	RowLabels, ColLabels []string
	// Lo and Hi are the ends of the colour scale; when Hi ≤ Lo they are
	// the smallest and largest finite values.
	Lo, Hi float64
	// Format writes a value into its cell; nil writes no values. NaN
	// cells are left blank.
	Format func(v float64) string
}

// MaxLabel is the longest row or column label LabelledHeatmap draws;
// longer ones keep their last MaxLabel−1 characters after a '.'.
const MaxLabel = 14

// LabelledHeatmap draws m (rows × cols, row-major) as Heatmap does, with
// a title, named rows and columns (long column names written downwards,
// one character per line, under each column) and, with o.Format, each
// value printed in its cell, in white on dark cells and black on light
// ones. Cells are large enough for the longest printed value.
func LabelledHeatmap(m []float64, rows, cols int, o HeatmapOptions) (image.Image, error) {
	if rows < 1 || cols < 1 || len(m) != rows*cols {
		return nil, fmt.Errorf("plot: heatmap of %d values is not %d×%d", len(m), rows, cols)
	}
	lo, hi := o.Lo, o.Hi
	if !(hi > lo) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, v := range m {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if lo > hi {
			lo, hi = 0, 1
		}
		if !(hi > lo) {
			hi = lo + 1
		}
	}
	label := func(ls []string, i int) string {
		s := fmt.Sprint(i)
		if i < len(ls) {
			s = ls[i]
		}
		if len(s) > MaxLabel {
			s = "." + s[len(s)-MaxLabel+1:]
		}
		return strings.ToUpper(s) // the font's lower-case e is the exponent's
	}
	valueW := 0
	cells := make([]string, len(m))
	if o.Format != nil {
		for i, v := range m {
			if !math.IsNaN(v) {
				cells[i] = o.Format(v)
				valueW = max(valueW, len(cells[i]))
			}
		}
	}
	rowW, colW := 0, 0
	for r := range rows {
		rowW = max(rowW, len(label(o.RowLabels, r)))
	}
	for c := range cols {
		colW = max(colW, len(label(o.ColLabels, c)))
	}
	cell := max(charH+6, valueW*charW+6)
	// Column labels up to wideLabel characters are written across, the
	// cells widened to hold them; longer ones downwards.
	const wideLabel = 8
	across := colW <= wideLabel
	colH := colW
	if across {
		cell = max(cell, colW*charW+6)
		colH = 1
	}
	barW := 12
	left := charH + 6 + rowW*charW + 6 // the row title, written downwards, then the labels
	top := 2*charH + 8                 // the title
	gridW, gridH := cols*cell, rows*cell
	w := max(left+gridW+8+barW+8*charW, len(o.Title)*charW+8)
	h := top + gridH + 4 + colH*charH + 6 + charH + 4
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.White)
	title := strings.ToUpper(o.Title)
	text(img, max(2, (w-len(title)*charW)/2), 4, title)
	for r := range rows {
		for c := range cols {
			v := m[r*cols+c]
			col := viridis((v - lo) / (hi - lo))
			x0, y0 := left+c*cell, top+r*cell
			fill(img, image.Rect(x0, y0, x0+cell, y0+cell), col)
			if s := cells[r*cols+c]; s != "" {
				ink := color.RGBA{0, 0, 0, 255}
				if luminance(col) < 0.5 {
					ink = color.RGBA{255, 255, 255, 255}
				}
				textInk(img, x0+(cell-len(s)*charW)/2+1, y0+(cell-charH)/2+1, s, ink)
			}
		}
	}
	black := color.RGBA{0, 0, 0, 255}
	for r := range rows {
		s := label(o.RowLabels, r)
		textInk(img, left-6-len(s)*charW, top+r*cell+(cell-charH)/2+1, s, black)
	}
	for c := range cols {
		s := label(o.ColLabels, c)
		if across {
			textInk(img, left+c*cell+(cell-len(s)*charW)/2+1, top+gridH+4, s, black)
			continue
		}
		x := left + c*cell + (cell-charW)/2 + 1
		for k, ch := range s {
			textInk(img, x, top+gridH+4+k*charH, string(ch), black)
		}
	}
	if o.ColTitle != "" {
		t := strings.ToUpper(o.ColTitle)
		text(img, left+max(0, (gridW-len(t)*charW)/2), top+gridH+4+colH*charH+6, t)
	}
	if o.RowTitle != "" {
		t := strings.ToUpper(o.RowTitle)
		y := top + max(0, (gridH-len(t)*charH)/2)
		for k, ch := range t {
			text(img, 4, y+k*charH, string(ch))
		}
	}
	bx := left + gridW + 8
	for y := range gridH {
		fill(img, image.Rect(bx, top+y, bx+barW, top+y+1), viridis(1-float64(y)/float64(max(1, gridH-1))))
	}
	text(img, bx+barW+2, top, short(hi))
	text(img, bx+barW+2, top+gridH-charH, short(lo))
	return img, nil
}

// luminance is the relative brightness of c in [0, 1] (Rec. 601 weights).
func luminance(c color.RGBA) float64 {
	return (0.299*float64(c.R) + 0.587*float64(c.G) + 0.114*float64(c.B)) / 255
}

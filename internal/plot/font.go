package plot

import (
	"image"
	"image/color"
)

// A 3×5 pixel font for numbers, drawn at twice its size: enough for tick
// labels (digits, sign, decimal point, exponent) without a font library.
const (
	fontScale = 2
	charW     = 4 * fontScale // glyph width plus one column of space
	charH     = 6 * fontScale // glyph height plus one row of space
)

// glyphs holds each character as five rows of three bits, high bit left.
var glyphs = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7},
	'1': {2, 6, 2, 2, 7},
	'2': {7, 1, 7, 4, 7},
	'3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1},
	'5': {7, 4, 7, 1, 7},
	'6': {7, 4, 7, 5, 7},
	'7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7},
	'9': {7, 5, 7, 1, 7},
	'.': {0, 0, 0, 0, 2},
	'-': {0, 0, 7, 0, 0},
	'+': {0, 2, 7, 2, 0},
	'e': {0, 7, 7, 4, 7},
}

// text draws s with its top-left corner at (x, y); characters without a
// glyph are left blank.
func text(img *image.RGBA, x, y int, s string) {
	ink := color.RGBA{0, 0, 0, 255}
	for _, r := range s {
		g := glyphs[r]
		for row, bits := range g {
			for col := range 3 {
				if bits&(4>>col) != 0 {
					px, py := x+col*fontScale, y+row*fontScale
					fill(img, image.Rect(px, py, px+fontScale, py+fontScale), ink)
				}
			}
		}
		x += charW
	}
}

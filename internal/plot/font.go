package plot

import (
	"image"
	"image/color"
	"unicode"
)

// A 3×5 pixel font, drawn at twice its size: enough for tick labels
// (digits, sign, decimal point, exponent) and short capitalised titles
// without a font library. Lower-case letters other than the exponent's
// 'e' are drawn as capitals.
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
	'_': {0, 0, 0, 0, 7},
	':': {0, 2, 0, 2, 0},
	'/': {1, 1, 2, 4, 4},
	'%': {5, 1, 2, 4, 5},
	'(': {1, 2, 2, 2, 1},
	')': {4, 2, 2, 2, 4},
	',': {0, 0, 0, 2, 4},
	'=': {0, 7, 0, 7, 0},
	'A': {2, 5, 7, 5, 5},
	'B': {6, 5, 6, 5, 6},
	'C': {3, 4, 4, 4, 3},
	'D': {6, 5, 5, 5, 6},
	'E': {7, 4, 6, 4, 7},
	'F': {7, 4, 6, 4, 4},
	'G': {3, 4, 5, 5, 3},
	'H': {5, 5, 7, 5, 5},
	'I': {7, 2, 2, 2, 7},
	'J': {1, 1, 1, 5, 2},
	'K': {5, 5, 6, 5, 5},
	'L': {4, 4, 4, 4, 7},
	'M': {5, 7, 7, 5, 5},
	'N': {6, 5, 5, 5, 5},
	'O': {2, 5, 5, 5, 2},
	'P': {6, 5, 6, 4, 4},
	'Q': {2, 5, 5, 6, 3},
	'R': {6, 5, 6, 5, 5},
	'S': {3, 4, 2, 1, 6},
	'T': {7, 2, 2, 2, 2},
	'U': {5, 5, 5, 5, 7},
	'V': {5, 5, 5, 5, 2},
	'W': {5, 5, 7, 7, 5},
	'X': {5, 5, 2, 5, 5},
	'Y': {5, 5, 2, 2, 2},
	'Z': {7, 1, 2, 4, 7},
}

// glyph returns r's rows, falling back to the capital of a lower-case
// letter; ok is false for characters the font lacks (drawn as space).
func glyph(r rune) (g [5]uint8, ok bool) {
	if g, ok = glyphs[r]; ok {
		return g, true
	}
	g, ok = glyphs[unicode.ToUpper(r)]
	return g, ok
}

// text draws s with its top-left corner at (x, y); characters without a
// glyph are left blank.
func text(img *image.RGBA, x, y int, s string) {
	textInk(img, x, y, s, color.RGBA{0, 0, 0, 255})
}

// textInk is text in the colour ink.
func textInk(img *image.RGBA, x, y int, s string, ink color.RGBA) {
	for _, r := range s {
		g, _ := glyph(r)
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

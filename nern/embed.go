package nern

import (
	"math"

	"github.com/graft-ml/graft/tensor"
)

// Coords returns the coordinates (l, f, c) of every represented kernel
// position, as raw integers in position order: layer by layer, then
// f·C + c. Position i of a layer is embedded with these coordinates and
// predicts the kernel its permutation assigns to i.
func Coords(layers []*Layer) [][3]int {
	var out [][3]int
	for _, l := range represented(layers) {
		for f := 0; f < l.Shape[0]; f++ {
			for c := 0; c < l.Shape[1]; c++ {
				out = append(out, [3]int{l.Index, f, c})
			}
		}
	}
	return out
}

// EmbedWidth is the width of an embedding with the given levels.
func EmbedWidth(levels int) int { return 3 * levels * 2 }

// Embed returns the positional embeddings of coords, [N, 6·levels]
// float32: for each coordinate p (l, then f, then c) and level
// k = 0..levels−1, sin(p·base^k·π) and cos(p·base^k·π). These are NeRN's
// "smooth" embeddings of the raw integer indices (SEEDS §4: normalised
// indices make nearly constant embeddings with base < 1). Computed in
// float64, rounded once.
func Embed(coords [][3]int, levels int, base float64) *tensor.Dense {
	w := EmbedWidth(levels)
	out := tensor.New(tensor.Float32, len(coords), w)
	freq := make([]float64, levels)
	for k := range freq {
		freq[k] = math.Pow(base, float64(k))
	}
	for i, c := range coords {
		row := out.F32[i*w : (i+1)*w]
		for j, p := range c {
			for k, fk := range freq {
				s, co := math.Sincos(float64(p) * fk * math.Pi) // numpy's order: (p·b^k)·π
				row[(j*levels+k)*2] = float32(s)
				row[(j*levels+k)*2+1] = float32(co)
			}
		}
	}
	return out
}

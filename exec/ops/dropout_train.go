package ops

import (
	"math/rand/v2"

	"github.com/graft-ml/graft/tensor"
)

// Dropout in training mode (opset 12+: training_mode input true): each
// element is kept with probability 1 − ratio and scaled by 1/(1 − ratio),
// the mask output says which were kept. The draws are NumPy's legacy
// generator (np.random.seed(seed); np.random.uniform(0, 1, shape) ≥
// ratio), which ONNX's reference and test data use, so a seeded node
// gives the reference's mask; without a seed attribute each run draws a
// fresh seed. ONNX Runtime uses its own generator: no two runtimes share
// masks.

// dropoutTrain applies training-mode dropout to x with the given ratio
// (0 ≤ ratio < 1), returning the output and the mask.
func dropoutTrain(x *tensor.Dense, ratio float64, seed uint32) (*tensor.Dense, *tensor.Dense) {
	y := tensor.New(x.DType, x.Shape...)
	mask := tensor.New(tensor.Bool, x.Shape...)
	rng := newMT19937(seed)
	scale := 1 / (1 - ratio)
	for i := range mask.I64 {
		if rng.float64() >= ratio {
			mask.I64[i] = 1
		}
	}
	switch {
	case x.F32 != nil:
		s := float32(scale) // as NumPy multiplies a float32 array by a Python float
		for i, v := range x.F32 {
			if mask.I64[i] != 0 {
				y.F32[i] = v * s
			}
		}
		elemNarrow(y)
	case x.F64 != nil:
		for i, v := range x.F64 {
			if mask.I64[i] != 0 {
				y.F64[i] = v * scale
			}
		}
	}
	return y, mask
}

// randomSeed draws a seed for a node without one.
func randomSeed() uint32 { return rand.Uint32() }

// mt19937 is the Mersenne Twister as NumPy's legacy RandomState runs it.
type mt19937 struct {
	state [624]uint32
	pos   int
}

// newMT19937 seeds the generator as np.random.seed(seed) does for an
// integer seed (Matsumoto and Nishimura's init_genrand).
func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{pos: 624}
	m.state[0] = seed
	for i := 1; i < 624; i++ {
		prev := m.state[i-1]
		m.state[i] = 1812433253*(prev^(prev>>30)) + uint32(i)
	}
	return m
}

// uint32 returns the next tempered 32-bit output.
func (m *mt19937) uint32() uint32 {
	const upper, lower, matrixA = 0x80000000, 0x7fffffff, 0x9908b0df
	if m.pos >= 624 {
		for i := range 624 {
			y := m.state[i]&upper | m.state[(i+1)%624]&lower
			next := m.state[(i+397)%624] ^ y>>1
			if y&1 != 0 {
				next ^= matrixA
			}
			m.state[i] = next
		}
		m.pos = 0
	}
	y := m.state[m.pos]
	m.pos++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// float64 returns a uniform double in [0, 1) from 53 random bits, as
// NumPy's random_sample does (27 bits, then 26).
func (m *mt19937) float64() float64 {
	a, b := m.uint32()>>5, m.uint32()>>6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

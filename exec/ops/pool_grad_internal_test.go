package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2x2Grad holds the MaxPool2d(2) fast path of poolGradPlane2D
// to the rule it shortcuts, written out as a loop: each dy goes to the
// first maximum of its window in row-major order. The inputs take three
// values (and a NaN now and then) so that ties are common.
func TestMaxPool2x2Grad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	axis := func(in int) *poolAxis {
		out := in / 2
		a := &poolAxis{in: in, out: out, dil: 1, start: make([]int, out), lo: make([]int, out), hi: make([]int, out), padC: make([]int, out)}
		for o := range out {
			a.start[o], a.hi[o], a.padC[o] = 2*o, 2, 2
		}
		return a
	}
	for _, size := range [][2]int{{2, 2}, {4, 6}, {7, 5}, {14, 14}} {
		ay, ax := axis(size[0]), axis(size[1])
		if !maxPool2x2(ay) || !maxPool2x2(ax) {
			t.Fatalf("%v: not taken as 2x2 windows", size)
		}
		H, W := size[0], size[1]
		x := make([]float32, H*W)
		for i := range x {
			x[i] = float32(r.IntN(3))
			if r.IntN(17) == 0 {
				x[i] = float32(math.NaN())
			}
		}
		dy := make([]float32, ay.out*ax.out)
		for i := range dy {
			dy[i] = float32(i + 1)
		}
		got := make([]float32, H*W)
		poolGradPlane2D(got, x, dy, ay, ax, true, false)
		want := make([]float32, H*W)
		for oy := range ay.out {
			for ox := range ax.out {
				at := -1
				for ky := range 2 {
					for kx := range 2 {
						i := (2*oy+ky)*W + 2*ox + kx
						if at < 0 || x[i] > x[at] {
							at = i
						}
					}
				}
				want[at] += dy[oy*ax.out+ox]
			}
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v: dx[%d] = %v, want %v", size, i, got[i], want[i])
			}
		}
	}
}

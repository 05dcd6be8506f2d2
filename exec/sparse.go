package exec

import (
	"fmt"
	"strings"

	"github.com/graft-ml/graft/exec/ops"
)

// SparseMode chooses which Gemm, MatMul and Conv nodes run as sparse
// products (see Options.Sparse).
type SparseMode int

const (
	// SparseAuto runs a node sparse when its constant weight's density
	// (nonzeros over elements) is at most SparseCrossoverGemm (Gemm,
	// MatMul) or SparseCrossoverConv.
	SparseAuto SparseMode = iota
	// SparseOff runs every node dense.
	SparseOff
	// SparseOn runs every node that can run sparse so, whatever its
	// density.
	SparseOn
)

// String returns "auto", "off" or "on".
func (s SparseMode) String() string {
	switch s {
	case SparseAuto:
		return "auto"
	case SparseOff:
		return "off"
	case SparseOn:
		return "on"
	}
	return fmt.Sprintf("SparseMode(%d)", int(s))
}

// ParseSparseMode reads "auto", "on" or "off".
func ParseSparseMode(s string) (SparseMode, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return SparseAuto, nil
	case "off":
		return SparseOff, nil
	case "on":
		return SparseOn, nil
	}
	return SparseAuto, fmt.Errorf("sparse mode %q: want auto, on or off", s)
}

// The weight densities at and below which SparseAuto runs a layer
// sparse, measured with BenchmarkSparseCrossover (2 threads, AMD EPYC
// Zen 4 shared with other work, medians; dense/sparse time ratio):
//
//	layer                      batch   5 %   10 %   20 %   25 %   30 %   50 %
//	Gemm 2048→2048                 1  4.80   2.66   1.57   1.58   0.73   0.51
//	Gemm 2048→2048                32  5.85   3.97   2.09   1.64   1.41   0.75
//	Gemm 784→2048                  1  3.29   1.98   1.10   0.93   0.80   0.51
//	Conv 3×3 32→64, 14×14          1  2.94   2.18   1.69      -   1.18   0.79
//	Conv 3×3 32→64, 14×14         32  3.58   2.88   2.01      -   1.72   1.09
//	Conv 3×3 64→64, 56×56          1  4.51   2.68   1.64      -   1.08   0.72
//	Conv 1×1 64→256, 56×56         1  1.70   1.81   1.48      -   1.27   0.95
//
// A fully connected layer at batch 1 is a dot product per output of its
// nonzeros with the input read at their columns (sparse.MulVec, 6 bytes
// per nonzero) against a dense product bound by memory bandwidth, and
// pays to about 25 % (the batch is not known at Compile; batch 32 pays to
// 40 %). A convolution's dense GEMM reuses each weight across the output
// positions while the sparse one reads the input planes at each tap's
// offset, and pays to about 30-50 %. (The Gemm rows are of the batch-1
// kernel with 16-bit indices and scalar loads; before it, with AVX2
// gathers, batch 1 paid only to 20 %: 784→2048 gave 1.19 at 10 % and
// 0.73 at 20 %.)
const (
	SparseCrossoverGemm = 0.25 // Gemm and MatMul
	SparseCrossoverConv = 0.3
)

// sparseCrossover returns the crossover density for an op type.
func sparseCrossover(op string) float64 {
	if op == "Conv" {
		return SparseCrossoverConv
	}
	return SparseCrossoverGemm
}

// SparseLayer describes a node that runs as a sparse product.
type SparseLayer struct {
	Node    string
	Op      string
	NNZ     int
	Density float64
}

// planSparse gives each Gemm, MatMul and Conv step whose weight (input 1)
// is an initializer a sparse form of it, as mode decides.
func (p *Program) planSparse(mode SparseMode) {
	if mode == SparseOff {
		return
	}
	if _, ok := p.backend.(CPU); !ok {
		return
	}
	for i := range p.steps {
		s := &p.steps[i]
		n := s.node
		if len(n.Inputs) < 2 || n.Inputs[1] == nil {
			continue
		}
		w := p.consts[n.Inputs[1]]
		shape, ok := ops.SparseLayout(n, w)
		if !ok {
			continue
		}
		if mode == SparseAuto {
			nnz := 0
			for _, v := range w.F32 {
				if v != 0 {
					nnz++
				}
			}
			size := float64(shape.Groups) * float64(shape.Rows) * float64(shape.Cols)
			if float64(nnz) > sparseCrossover(n.OpType)*size {
				continue
			}
		}
		s.sparse = ops.NewSparseWeight(n, w)
	}
}

// SparseLayers lists the nodes that run as sparse products, in order.
func (p *Program) SparseLayers() []SparseLayer {
	var out []SparseLayer
	for _, s := range p.steps {
		if s.sparse != nil {
			out = append(out, SparseLayer{Node: s.node.Name, Op: s.node.OpType, NNZ: s.sparse.NNZ, Density: s.sparse.Density})
		}
	}
	return out
}

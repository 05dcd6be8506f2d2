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
	// (nonzeros over elements) is at most SparseCrossover.
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

// SparseCrossover is the weight density at and below which SparseAuto runs
// a layer sparse. Measured with BenchmarkSparseCrossover (2 threads, AMD
// EPYC Zen 4, AVX2 sparse kernels against the AVX-512 SGEMM): the sparse
// product of a 2048×2048 fully connected layer overtakes the dense one
// between 20 % and 30 % density at batch 1 and 32 alike, and a ResNet-style
// 3×3 convolution (64 channels, 28×28) between 20 % and 30 % as well.
// Below the crossover the time falls about in proportion to the density.
const SparseCrossover = 0.2

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
			if float64(nnz) > SparseCrossover*size {
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

package exec

import (
	"encoding/json"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/graft-ml/graft/exec/ops"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Profile collects the time of every kernel over one or more runs (pass
// the same Profile in RunOptions.Profile to each). A fused pair (a Conv
// with the Relu after it) counts as its first node.
type Profile struct {
	// Runs counts the runs profiled; Wall is their total time.
	Runs int
	Wall time.Duration
	// Events holds each kernel call of the first run, for a trace.
	Events []TraceEvent
	nodes  map[*onnx.Node]*NodeStat
	order  []*onnx.Node
}

// NodeStat is one node's share of a Profile.
type NodeStat struct {
	Node  string
	Op    string
	Calls int
	Total time.Duration
	// Flops is the multiply-adds ×2 of every call of a Conv, Gemm or
	// MatMul (0 for other ops); for a sparse product, those by its
	// nonzero weights.
	Flops float64
	// Sparse says the node ran as a sparse product (see Options.Sparse),
	// with weights of the given Density.
	Sparse  bool
	Density float64
	// Shapes gives the node's input shapes at its first call, as
	// "1×64×56×56, 64×64×3×3": with the op, what a kernel was asked to do.
	Shapes string
}

// OpStat aggregates the nodes of one op type. Nodes that ran as sparse
// products form their own entry, their Op marked " (sparse)".
type OpStat struct {
	Op         string
	Nodes      int
	Calls      int
	Total      time.Duration
	Flops      float64
	Share      float64 // of the profiled wall time
	GFLOPS     float64 // Flops / Total, for Conv, Gemm and MatMul
	MeanMicros float64 // mean time per call
}

// TraceEvent is one kernel call in Chrome's trace-event format.
type TraceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat"`
	Ph   string         `json:"ph"`
	TS   float64        `json:"ts"`  // microseconds from the run's start
	Dur  float64        `json:"dur"` // microseconds
	PID  int            `json:"pid"`
	TID  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

func (pr *Profile) add(n *onnx.Node, in, out []*tensor.Dense, c *ops.RunCtx, start time.Time, d time.Duration, runStart time.Time) {
	if pr.nodes == nil {
		pr.nodes = map[*onnx.Node]*NodeStat{}
	}
	s := pr.nodes[n]
	cat := n.OpType
	if c.Depthwise != nil {
		cat += depthwiseMark
	}
	if st := c.NCHWc; st != nil {
		blockedOut := uint64(0)
		if st.Blocked {
			blockedOut = 1
		}
		in, out = nchwcLogical(in, st.In), nchwcLogical(out, blockedOut)
		if st.WroteInto && len(out) > 0 && out[0] != nil && len(in) > 1 && in[1] != nil && in[1].Rank() > 0 {
			// The output went into a Concat's, which it is a part of.
			shape := slices.Clone(out[0].Shape)
			shape[1] = in[1].Shape[0]
			out = []*tensor.Dense{{DType: out[0].DType, Shape: shape}}
		}
		if st.Ran {
			cat += nchwcMark
		}
	}
	if s == nil {
		s = &NodeStat{Node: n.Name, Op: cat, Shapes: shapesText(in)}
		pr.nodes[n] = s
		pr.order = append(pr.order, n)
	}
	s.Calls++
	s.Total += d
	f := flops(n.OpType, in, out)
	if c.Depthwise != nil {
		f = chainFlops(in, out, c.Depthwise)
	}
	var args map[string]any
	if c.RanSparse {
		s.Sparse, s.Density = true, c.Sparse.Density
		f *= c.Sparse.Density
		cat += sparseMark
		args = map[string]any{"density": c.Sparse.Density}
	}
	s.Flops += f
	if pr.Runs == 0 {
		if args == nil {
			args = map[string]any{}
		}
		args["inputs"] = s.Shapes
		pr.Events = append(pr.Events, TraceEvent{Name: n.Name, Cat: cat, Ph: "X",
			TS: float64(start.Sub(runStart).Nanoseconds()) / 1e3, Dur: float64(d.Nanoseconds()) / 1e3, PID: 1, TID: 1, Args: args})
	}
}

// nchwcMark follows the op type of Convs that ran on the blocked channel
// layout (ops.NCHWcStage).
const nchwcMark = " (blocked)"

// nchwcLogical returns ts with each blocked tensor (bit i of blocked set)
// replaced by one of its logical NCHW shape and no data: what the profile
// reports of it.
func nchwcLogical(ts []*tensor.Dense, blocked uint64) []*tensor.Dense {
	if blocked == 0 {
		return ts
	}
	ts = slices.Clone(ts)
	for i, t := range ts {
		if i < 64 && blocked&(1<<i) != 0 && t != nil {
			ts[i] = &tensor.Dense{DType: t.DType, Shape: ops.NCHWcShape(t)}
		}
	}
	return ts
}

// sparseMark follows the op type of nodes that ran as sparse products.
const sparseMark = " (sparse)"

// depthwiseMark follows the op type of a pointwise Conv that ran with the
// depthwise Conv after it (ops.DepthwiseStage); its time and flops are
// the pair's.
const depthwiseMark = " + depthwise Conv"

// chainFlops counts a pointwise Conv's and its fused depthwise Conv's
// multiply-adds: in are the pointwise Conv's inputs, out the depthwise
// Conv's output.
func chainFlops(in, out []*tensor.Dense, dw *ops.DepthwiseStage) float64 {
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(out) == 0 || out[0] == nil || dw.W == nil ||
		in[0].Rank() < 2 || in[1].Rank() < 2 || in[0].Shape[1] == 0 || dw.W.Shape[0] == 0 {
		return 0
	}
	x, w := in[0], in[1]
	mid := float64(x.Len()/x.Shape[1]) * float64(w.Shape[0]) // the pointwise output's elements
	return 2*mid*float64(x.Shape[1]) + 2*float64(out[0].Len())*float64(dw.W.Len()/dw.W.Shape[0])
}

// Kernels returns the total time inside kernels; Wall minus it is the
// time the interpreter spent around them.
func (pr *Profile) Kernels() time.Duration {
	var t time.Duration
	for _, s := range pr.nodes {
		t += s.Total
	}
	return t
}

// Nodes returns every node's statistics, the slowest first.
func (pr *Profile) Nodes() []NodeStat {
	out := make([]NodeStat, 0, len(pr.order))
	for _, n := range pr.order {
		out = append(out, *pr.nodes[n])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Total > out[j].Total })
	return out
}

// Ops returns the statistics per op type, the slowest first.
func (pr *Profile) Ops() []OpStat {
	byOp := map[string]*OpStat{}
	var order []string
	for _, n := range pr.order {
		s := pr.nodes[n]
		key := s.Op
		if s.Sparse {
			key += sparseMark
		}
		o := byOp[key]
		if o == nil {
			o = &OpStat{Op: key}
			byOp[key] = o
			order = append(order, key)
		}
		o.Nodes++
		o.Calls += s.Calls
		o.Total += s.Total
		o.Flops += s.Flops
	}
	out := make([]OpStat, 0, len(order))
	for _, op := range order {
		o := *byOp[op]
		if pr.Wall > 0 {
			o.Share = float64(o.Total) / float64(pr.Wall)
		}
		if o.Flops > 0 && o.Total > 0 {
			o.GFLOPS = o.Flops / o.Total.Seconds() / 1e9
		}
		if o.Calls > 0 {
			o.MeanMicros = float64(o.Total.Microseconds()) / float64(o.Calls)
		}
		out = append(out, o)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Total > out[j].Total })
	return out
}

// WriteTrace writes the first profiled run as a Chrome trace-event JSON
// file, which Perfetto and chrome://tracing open.
func (pr *Profile) WriteTrace(w io.Writer) error {
	return json.NewEncoder(w).Encode(map[string]any{"traceEvents": pr.Events, "displayTimeUnit": "ms"})
}

// flops counts 2·multiply-adds of a Conv, Gemm or MatMul call from its
// tensors' shapes.
// shapesText writes tensors' shapes as "1×3×224×224, 64×3×7×7", with
// "-" for an absent optional input and "()" for a scalar.
func shapesText(in []*tensor.Dense) string {
	var b strings.Builder
	for i, t := range in {
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case t == nil:
			b.WriteString("-")
		case t.Rank() == 0:
			b.WriteString("()")
		default:
			for j, d := range t.Shape {
				if j > 0 {
					b.WriteString("×")
				}
				b.WriteString(strconv.Itoa(d))
			}
		}
	}
	return b.String()
}

func flops(op string, in, out []*tensor.Dense) float64 {
	if len(out) == 0 || out[0] == nil || len(in) < 2 || in[0] == nil || in[1] == nil {
		return 0
	}
	y, w := out[0], in[1]
	switch op {
	case "Conv":
		// Each output element sums C_in/group · kernel taps products.
		if w.Rank() < 3 {
			return 0
		}
		return 2 * float64(shapeElems(y)) * float64(w.Len()/w.Shape[0])
	case "Gemm", "MatMul":
		// y is (…, M, N); the shared dimension is the last of A.
		a := in[0]
		if a.Rank() == 0 {
			return 0
		}
		return 2 * float64(y.Len()) * float64(a.Shape[a.Rank()-1])
	}
	return 0
}

// shapeElems is the number of elements d's shape holds (d may carry a
// shape only: see nchwcLogical).
func shapeElems(d *tensor.Dense) int {
	n := 1
	for _, v := range d.Shape {
		n *= v
	}
	return n
}

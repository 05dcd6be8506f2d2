package ops

import (
	"fmt"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// Control flow: If, Loop and Scan (ONNX operator docs, opsets 11–16 for
// If and Loop, 9–16 for Scan, and Scan-8's batched form). Each runs
// subgraphs held by its attributes (then_branch/else_branch, body),
// which read the values of enclosing graphs by name: the executor passes
// those in RunCtx.Outer and runs the subgraphs through RunCtx.Graphs, a
// compiled program per subgraph; without one (InferShapes' folding, the
// node conformance tests) refGraphs interprets them node by node with
// the table's kernels. Sequence and optional values (sequence.go,
// optional.go) pass through like tensors, as loop state too.

// GraphRunner runs a subgraph: in binds its graph inputs in order, outer
// the values it reads from enclosing graphs (onnx.Graph.OuterValues) by
// name, and the result holds its outputs in order. Results must not share
// storage with anything the runner may later reuse.
type GraphRunner interface {
	RunGraph(g *onnx.Graph, opset int, in []*tensor.Dense, outer map[string]*tensor.Dense) ([]*tensor.Dense, error)
}

func init() {
	register(
		&Op{Name: "If", Since: 1, Containers: true, Infer: ifInfer, Run: ifRun, Ref: ifRun},
		&Op{Name: "Loop", Since: 1, Containers: true, Infer: loopInfer, Run: loopRun, Ref: loopRun},
		&Op{Name: "Scan", Since: 8, Infer: scanInfer, Run: scanRun, Ref: scanRun},
	)
}

// subgraph returns n's graph attribute name, or an error naming it.
func subgraph(n *onnx.Node, name string) (*onnx.Graph, error) {
	g := n.AttrGraph(name)
	if g == nil {
		return nil, onnx.NodeErrorf(n, "attribute %q: want a graph", name)
	}
	return g, nil
}

// runner returns the context's subgraph runner, or the reference one.
func (c *RunCtx) runner() GraphRunner {
	if c.Graphs != nil {
		return c.Graphs
	}
	return refGraphs{threads: c.Threads}
}

// runSub runs g and checks that it produced want outputs.
func (c *RunCtx) runSub(g *onnx.Graph, in []*tensor.Dense, want int) ([]*tensor.Dense, error) {
	out, err := c.runner().RunGraph(g, c.Opset, in, c.Outer)
	if err != nil {
		return nil, onnx.NodeErrorf(c.Node, "subgraph %q: %w", g.Name, err)
	}
	if len(out) != want {
		return nil, onnx.NodeErrorf(c.Node, "subgraph %q produced %d outputs, want %d", g.Name, len(out), want)
	}
	for i, d := range out {
		if d == nil {
			return nil, onnx.NodeErrorf(c.Node, "subgraph %q produced no output %d", g.Name, i)
		}
	}
	return out, nil
}

// truth reads a boolean (or numeric) scalar condition.
func truth(n *onnx.Node, what string, d *tensor.Dense) (bool, error) {
	if d.Len() != 1 {
		return false, onnx.NodeErrorf(n, "%s: want one element, got shape %v", what, d.Shape)
	}
	return d.Float64s()[0] != 0, nil
}

func ifRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	cond := c.Input(0)
	if cond == nil {
		return nil, onnx.NodeErrorf(n, "missing input cond")
	}
	yes, err := truth(n, "cond", cond)
	if err != nil {
		return nil, err
	}
	name := "else_branch"
	if yes {
		name = "then_branch"
	}
	g, err := subgraph(n, name)
	if err != nil {
		return nil, err
	}
	return c.runSub(g, nil, len(n.Outputs))
}

// ifInfer takes each output's type from the branches' declared (or
// inferred) outputs: the dtype they agree on, and the dims where both
// know the same size.
func ifInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	then, err := subgraph(n, "then_branch")
	if err != nil {
		return nil, err
	}
	els, err := subgraph(n, "else_branch")
	if err != nil {
		return nil, err
	}
	if len(then.Outputs) != len(n.Outputs) || len(els.Outputs) != len(n.Outputs) {
		return nil, onnx.NodeErrorf(n, "branches have %d and %d outputs, node has %d", len(then.Outputs), len(els.Outputs), len(n.Outputs))
	}
	out := make([]onnx.Type, len(n.Outputs))
	for i := range out {
		out[i] = joinTypes(then.Outputs[i].Type, els.Outputs[i].Type)
	}
	return out, nil
}

// joinTypes is what is known of a value that has type a or type b.
func joinTypes(a, b onnx.Type) onnx.Type {
	// A sequence or optional on either side (the other unknown) makes one.
	t := onnx.Type{Seq: a.Seq || b.Seq, Optional: a.Optional || b.Optional}
	if a.DType == b.DType {
		t.DType = a.DType
	} else if b.DType == tensor.Undefined {
		t.DType = a.DType
	} else if a.DType == tensor.Undefined {
		t.DType = b.DType
	}
	if a.HasShape && b.HasShape && len(a.Dims) == len(b.Dims) {
		t.HasShape = true
		t.Dims = make([]onnx.Dim, len(a.Dims))
		for i := range a.Dims {
			if a.Dims[i] == b.Dims[i] {
				t.Dims[i] = a.Dims[i]
			} else {
				t.Dims[i] = onnx.UnknownDim
			}
		}
	}
	return t
}

// loopRun follows Loop-11/13/16: inputs M (max trip count, optional),
// cond (optional) and N loop-carried values; the body maps (iteration
// number, cond, carried...) to (cond, carried..., K scan elements), and
// the node returns the final carried values and the K scan outputs, each
// the iterations' elements stacked along a new axis 0.
func loopRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	body, err := subgraph(n, "body")
	if err != nil {
		return nil, err
	}
	nCarried := len(n.Inputs) - 2
	if nCarried < 0 {
		return nil, onnx.NodeErrorf(n, "want at least 2 inputs (M, cond), got %d", len(n.Inputs))
	}
	nScan := len(body.Outputs) - 1 - nCarried
	if len(body.Inputs) != 2+nCarried || nScan < 0 {
		return nil, onnx.NodeErrorf(n, "body has %d inputs and %d outputs; with %d loop-carried values want %d inputs and at least %d outputs",
			len(body.Inputs), len(body.Outputs), nCarried, 2+nCarried, 1+nCarried)
	}
	if len(n.Outputs) > nCarried+nScan {
		return nil, onnx.NodeErrorf(n, "%d outputs, body gives %d", len(n.Outputs), nCarried+nScan)
	}
	maxTrip, hasMax := int64(0), false
	if m := c.Input(0); m != nil {
		if m.Len() != 1 || m.I64 == nil {
			return nil, onnx.NodeErrorf(n, "M: want an int64 scalar, got %s%v", m.DType, m.Shape)
		}
		maxTrip, hasMax = m.I64[0], true
	}
	cond, hasCond := true, false
	if d := c.Input(1); d != nil {
		if cond, err = truth(n, "cond", d); err != nil {
			return nil, err
		}
		hasCond = true
	}
	carried := make([]*tensor.Dense, nCarried)
	for i := range carried {
		if carried[i] = c.Input(2 + i); carried[i] == nil {
			return nil, onnx.NodeErrorf(n, "loop-carried input %d is missing", i)
		}
	}
	if !hasMax && !hasCond {
		return nil, onnx.NodeErrorf(n, "neither M nor cond is given: the loop would not end")
	}
	scans := make([][]*tensor.Dense, nScan)
	in := make([]*tensor.Dense, 2+nCarried)
	for i := int64(0); (!hasMax || i < maxTrip) && (!hasCond || cond); i++ {
		in[0] = tensor.FromI64(nil, []int64{i})
		in[1] = boolScalar(cond)
		copy(in[2:], carried)
		out, err := c.runSub(body, in, len(body.Outputs))
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", i, err)
		}
		if cond, err = truth(n, "body's cond output", out[0]); err != nil {
			return nil, err
		}
		copy(carried, out[1:1+nCarried])
		for k := range scans {
			scans[k] = append(scans[k], out[1+nCarried+k])
		}
	}
	res := append([]*tensor.Dense{}, carried...)
	for k, elems := range scans {
		s, err := stack(body.Outputs[1+nCarried+k].Type, elems, 0)
		if err != nil {
			return nil, onnx.NodeErrorf(n, "scan output %d: %w", k, err)
		}
		res = append(res, s)
	}
	return res[:len(n.Outputs)], nil
}

func boolScalar(b bool) *tensor.Dense {
	d := tensor.New(tensor.Bool)
	if b {
		d.I64[0] = 1
	}
	return d
}

// loopInfer: carried outputs have the types of the initial values (the
// body may change dims between iterations, so dims the body's outputs
// declare differently are unknown); scan outputs have a leading dim of
// unknown length.
func loopInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	body, err := subgraph(n, "body")
	if err != nil {
		return nil, err
	}
	nCarried := len(n.Inputs) - 2
	if nCarried < 0 || len(body.Outputs) < 1+nCarried {
		return nil, onnx.NodeErrorf(n, "body has %d outputs for %d loop-carried values", len(body.Outputs), nCarried)
	}
	out := make([]onnx.Type, len(n.Outputs))
	for i := range out {
		if 1+i >= len(body.Outputs) {
			return nil, onnx.NodeErrorf(n, "%d outputs, body gives %d", len(n.Outputs), len(body.Outputs)-1)
		}
		bt := body.Outputs[1+i].Type
		if i < nCarried {
			t, _ := c.Input(2 + i)
			out[i] = joinTypes(t, bt)
			continue
		}
		out[i] = prependDim(bt, onnx.UnknownDim, 0)
	}
	return out, nil
}

// prependDim inserts d into t's dims at axis.
func prependDim(t onnx.Type, d onnx.Dim, axis int) onnx.Type {
	if !t.HasShape {
		return onnx.Type{DType: t.DType}
	}
	if axis < 0 || axis > len(t.Dims) {
		return onnx.Type{DType: t.DType}
	}
	dims := append(append(append([]onnx.Dim{}, t.Dims[:axis]...), d), t.Dims[axis:]...)
	return onnx.Type{DType: t.DType, HasShape: true, Dims: dims}
}

// stack joins same-shaped elements along a new axis. With no elements
// the result has length 0 on that axis, and the other dims the body
// declares (none known: a 1-D empty tensor).
func stack(declared onnx.Type, elems []*tensor.Dense, axis int) (*tensor.Dense, error) {
	if len(elems) == 0 {
		dt := declared.DType
		if !dt.Supported() {
			dt = tensor.Float32
		}
		shape := []int{0}
		if s, ok := declared.Static(); ok && axis <= len(s) {
			shape = append(append(append([]int{}, s[:axis]...), 0), s[axis:]...)
		}
		return tensor.New(dt, shape...), nil
	}
	first := elems[0]
	if axis < 0 || axis > first.Rank() {
		return nil, fmt.Errorf("axis %d out of range for rank %d elements", axis, first.Rank())
	}
	for i, e := range elems {
		if e.DType != first.DType || !tensor.SameShape(e.Shape, first.Shape) {
			return nil, fmt.Errorf("iteration %d gave %s%v, iteration 0 gave %s%v", i, e.DType, e.Shape, first.DType, first.Shape)
		}
	}
	L := len(elems)
	shape := append(append(append([]int{}, first.Shape[:axis]...), L), first.Shape[axis:]...)
	if err := tensor.CheckAlloc(first.DType, shape); err != nil {
		return nil, err
	}
	out := tensor.New(first.DType, shape...)
	outer, _ := tensor.NumElems(first.Shape[:axis])
	inner, _ := tensor.NumElems(first.Shape[axis:])
	for t, e := range elems {
		for o := range outer {
			copyElems(out, (o*L+t)*inner, e, o*inner, inner)
		}
	}
	return out, nil
}

// slab returns index t of src along axis, with that axis removed.
func slab(src *tensor.Dense, axis, t int) *tensor.Dense {
	L := src.Shape[axis]
	shape := append(append([]int{}, src.Shape[:axis]...), src.Shape[axis+1:]...)
	out := tensor.New(src.DType, shape...)
	outer, _ := tensor.NumElems(src.Shape[:axis])
	inner, _ := tensor.NumElems(src.Shape[axis+1:])
	for o := range outer {
		copyElems(out, o*inner, src, (o*L+t)*inner, inner)
	}
	return out
}

// copyElems copies n elements of src from offset so to dst at offset do;
// both have the same dtype.
func copyElems(dst *tensor.Dense, do int, src *tensor.Dense, so, n int) {
	switch {
	case src.F32 != nil:
		copy(dst.F32[do:do+n], src.F32[so:so+n])
	case src.F64 != nil:
		copy(dst.F64[do:do+n], src.F64[so:so+n])
	case src.I64 != nil:
		copy(dst.I64[do:do+n], src.I64[so:so+n])
	}
}

// scanAttrs are Scan's decoded attributes for one run.
type scanAttrs struct {
	body                    *onnx.Graph
	nState, nIn, nOut       int
	inAxes, outAxes         []int
	inReverse, outReverse   []bool
	seqLens                 bool // Scan-8: input 0 is sequence_lens, axis 0 is the batch
	firstState, firstScanIn int  // input positions
}

func decodeScan(n *onnx.Node, opset int, rank func(i int) int) (*scanAttrs, error) {
	body, err := subgraph(n, "body")
	if err != nil {
		return nil, err
	}
	a := &scanAttrs{body: body, nIn: int(n.AttrInt("num_scan_inputs", -1)), seqLens: opset < 9}
	if a.nIn < 1 {
		return nil, onnx.NodeErrorf(n, "attribute \"num_scan_inputs\": want at least 1, got %d", a.nIn)
	}
	if a.seqLens {
		a.firstState = 1
	}
	a.nState = len(n.Inputs) - a.firstState - a.nIn
	a.firstScanIn = a.firstState + a.nState
	a.nOut = len(body.Outputs) - a.nState
	if a.nState < 0 || a.nOut < 0 || len(body.Inputs) != a.nState+a.nIn {
		return nil, onnx.NodeErrorf(n, "%d inputs with num_scan_inputs %d; body has %d inputs and %d outputs", len(n.Inputs), a.nIn, len(body.Inputs), len(body.Outputs))
	}
	if len(n.Outputs) > a.nState+a.nOut {
		return nil, onnx.NodeErrorf(n, "%d outputs, body gives %d", len(n.Outputs), a.nState+a.nOut)
	}
	dirs := func(name string, want int) ([]bool, error) {
		v := n.AttrInts(name)
		if v == nil {
			return make([]bool, want), nil
		}
		if len(v) != want {
			return nil, onnx.NodeErrorf(n, "attribute %q: want %d values, got %d", name, want, len(v))
		}
		out := make([]bool, want)
		for i, d := range v {
			if d != 0 && d != 1 {
				return nil, onnx.NodeErrorf(n, "attribute %q: direction %d, want 0 or 1", name, d)
			}
			out[i] = d == 1
		}
		return out, nil
	}
	axes := func(name string, want int, rank func(i int) int) ([]int, error) {
		v := n.AttrInts(name)
		out := make([]int, want)
		if v == nil {
			return out, nil
		}
		if len(v) != want {
			return nil, onnx.NodeErrorf(n, "attribute %q: want %d values, got %d", name, want, len(v))
		}
		for i, x := range v {
			r := rank(i)
			if r < 0 {
				if x < 0 {
					return nil, unsupportedf(n, "attribute %q: negative axis on an input of unknown rank", name)
				}
				out[i] = int(x)
				continue
			}
			ax, err := normAxis(n, x, r)
			if err != nil {
				return nil, err
			}
			out[i] = ax
		}
		return out, nil
	}
	if a.seqLens {
		if a.inReverse, err = dirs("directions", a.nIn); err != nil {
			return nil, err
		}
		a.outReverse = make([]bool, a.nOut)
		a.inAxes, a.outAxes = make([]int, a.nIn), make([]int, a.nOut)
		return a, nil
	}
	if a.inReverse, err = dirs("scan_input_directions", a.nIn); err != nil {
		return nil, err
	}
	if a.outReverse, err = dirs("scan_output_directions", a.nOut); err != nil {
		return nil, err
	}
	if a.inAxes, err = axes("scan_input_axes", a.nIn, rank); err != nil {
		return nil, err
	}
	// Output axes may be negative, counted against the elements' rank
	// plus one, which the first iteration settles (see scan).
	a.outAxes = make([]int, a.nOut)
	if v := n.AttrInts("scan_output_axes"); v != nil {
		if len(v) != a.nOut {
			return nil, onnx.NodeErrorf(n, "attribute \"scan_output_axes\": want %d values, got %d", a.nOut, len(v))
		}
		for i, x := range v {
			a.outAxes[i] = int(x)
		}
	}
	return a, nil
}

func scanRun(c *RunCtx) ([]*tensor.Dense, error) {
	n := c.Node
	a, err := decodeScan(n, c.Opset, func(i int) int {
		if d := c.Input(c.scanFirst(n) + i); d != nil {
			return d.Rank()
		}
		return -1
	})
	if err != nil {
		return nil, err
	}
	in := make([]*tensor.Dense, len(n.Inputs))
	for i := range n.Inputs {
		in[i] = c.Input(i)
		if in[i] == nil && (i >= a.firstState) {
			return nil, onnx.NodeErrorf(n, "input %d is missing", i)
		}
	}
	if !a.seqLens {
		return c.scan(a, in[a.firstState:a.firstScanIn], in[a.firstScanIn:])
	}
	// Scan-8: every state and scan input has a batch axis 0, the scan
	// inputs a sequence axis 1; each batch entry is one Scan-9 run.
	var batch = -1
	for _, d := range in[a.firstState:] {
		if d.Rank() < 1 || (batch >= 0 && d.Shape[0] != batch) {
			return nil, onnx.NodeErrorf(n, "inputs need a common batch axis 0, got %v", d.Shape)
		}
		batch = d.Shape[0]
	}
	for _, d := range in[a.firstScanIn:] {
		if d.Rank() < 2 {
			return nil, onnx.NodeErrorf(n, "scan input of shape %v has no sequence axis 1", d.Shape)
		}
	}
	if sl := in[0]; sl != nil {
		for _, l := range sl.Int64s() {
			if int(l) != in[a.firstScanIn].Shape[1] {
				return nil, unsupportedf(n, "sequence_lens shorter than the sequence axis")
			}
		}
	}
	per := make([][]*tensor.Dense, batch)
	for b := range batch {
		var states, scanIn []*tensor.Dense
		for _, d := range in[a.firstState:a.firstScanIn] {
			states = append(states, slab(d, 0, b))
		}
		for _, d := range in[a.firstScanIn:] {
			scanIn = append(scanIn, slab(d, 0, b))
		}
		if per[b], err = c.scan(a, states, scanIn); err != nil {
			return nil, err
		}
	}
	out := make([]*tensor.Dense, len(n.Outputs))
	for k := range out {
		elems := make([]*tensor.Dense, batch)
		for b := range batch {
			elems[b] = per[b][k]
		}
		if out[k], err = stack(onnx.Type{}, elems, 0); err != nil {
			return nil, onnx.NodeErrorf(n, "output %d: %w", k, err)
		}
	}
	return out, nil
}

// scanFirst is the position of n's first scan input.
func (c *RunCtx) scanFirst(n *onnx.Node) int {
	first := len(n.Inputs) - int(n.AttrInt("num_scan_inputs", 0))
	return max(first, 0)
}

// scan runs Scan-9's loop over one set of states and scan inputs.
func (c *RunCtx) scan(a *scanAttrs, states, scanIn []*tensor.Dense) ([]*tensor.Dense, error) {
	n := c.Node
	length := -1
	for i, d := range scanIn {
		ax := a.inAxes[i]
		if a.seqLens {
			ax = 0 // the batch axis is already removed
		}
		if ax >= d.Rank() {
			return nil, onnx.NodeErrorf(n, "scan input %d: axis %d out of range for shape %v", i, ax, d.Shape)
		}
		if length >= 0 && d.Shape[ax] != length {
			return nil, onnx.NodeErrorf(n, "scan inputs have lengths %d and %d", length, d.Shape[ax])
		}
		length = d.Shape[ax]
	}
	states = append([]*tensor.Dense{}, states...)
	elems := make([][]*tensor.Dense, a.nOut)
	in := make([]*tensor.Dense, a.nState+a.nIn)
	for t := range length {
		copy(in, states)
		for i, d := range scanIn {
			ax := a.inAxes[i]
			if a.seqLens {
				ax = 0
			}
			at := t
			if a.inReverse[i] {
				at = length - 1 - t
			}
			in[a.nState+i] = slab(d, ax, at)
		}
		out, err := c.runSub(a.body, in, a.nState+a.nOut)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", t, err)
		}
		copy(states, out[:a.nState])
		for k := range elems {
			elems[k] = append(elems[k], out[a.nState+k])
		}
	}
	res := states
	for k, es := range elems {
		if a.outReverse[k] {
			rev := make([]*tensor.Dense, len(es))
			for i, e := range es {
				rev[len(es)-1-i] = e
			}
			es = rev
		}
		ax := a.outAxes[k]
		if ax < 0 && len(es) > 0 {
			ax += es[0].Rank() + 1
		}
		s, err := stack(a.body.Outputs[a.nState+k].Type, es, max(ax, 0))
		if err != nil {
			return nil, onnx.NodeErrorf(n, "scan output %d: %w", k, err)
		}
		res = append(res, s)
	}
	return res, nil
}

// scanInfer: final states have the initial states' types; scan outputs
// the body's element type with the sequence length inserted at the
// output axis.
func scanInfer(c *InferCtx) ([]onnx.Type, error) {
	n := c.Node
	first := len(n.Inputs) - int(n.AttrInt("num_scan_inputs", 0))
	a, err := decodeScan(n, c.Opset, func(i int) int {
		t, _ := c.Input(first + i)
		return t.Rank()
	})
	if err != nil {
		return nil, err
	}
	length := onnx.UnknownDim
	if t, ok := c.Input(a.firstScanIn); ok && t.HasShape {
		ax := a.inAxes[0]
		if a.seqLens {
			ax = 1
		}
		if ax < len(t.Dims) {
			length = t.Dims[ax]
		}
	}
	out := make([]onnx.Type, len(n.Outputs))
	for i := range out {
		bt := a.body.Outputs[i].Type
		if i < a.nState {
			t, _ := c.Input(a.firstState + i)
			out[i] = joinTypes(t, t)
			if out[i].DType == tensor.Undefined {
				out[i].DType = bt.DType
			}
			continue
		}
		if a.seqLens {
			var batch onnx.Dim = onnx.UnknownDim
			if t, ok := c.Input(a.firstScanIn); ok && t.HasShape && len(t.Dims) > 0 {
				batch = t.Dims[0]
			}
			out[i] = prependDim(prependDim(bt, length, 0), batch, 0)
			continue
		}
		ax := a.outAxes[i-a.nState]
		if ax < 0 && bt.HasShape {
			ax += len(bt.Dims) + 1
		}
		out[i] = prependDim(bt, length, ax)
	}
	return out, nil
}

// refGraphs interprets a subgraph node by node with the table's kernels
// (the float64 reference where an input is float64, as the CPU backend
// does): the definition the executor's compiled subgraphs are tested
// against, and the runner where no executor is at hand.
type refGraphs struct{ threads int }

// RunGraph runs g; see GraphRunner.
func (r refGraphs) RunGraph(g *onnx.Graph, opset int, in []*tensor.Dense, outer map[string]*tensor.Dense) ([]*tensor.Dense, error) {
	if len(in) != len(g.Inputs) {
		return nil, fmt.Errorf("%d inputs for a graph of %d", len(in), len(g.Inputs))
	}
	vals := map[*onnx.Value]*tensor.Dense{}
	for _, v := range g.OuterValues() {
		d, ok := outer[v.Name]
		if !ok {
			return nil, fmt.Errorf("outer value %q has no value", v.Name)
		}
		vals[v] = d
	}
	for _, v := range g.Initializers {
		d, err := v.Const.Dense()
		if err != nil {
			return nil, err
		}
		vals[v] = d
	}
	for i, v := range g.Inputs {
		vals[v] = in[i]
	}
	if err := g.Toposort(); err != nil {
		return nil, err
	}
	for _, n := range g.Nodes {
		op, err := Resolve(n, opset)
		if err != nil {
			return nil, err
		}
		c := &RunCtx{Node: n, Opset: opset, In: make([]*tensor.Dense, len(n.Inputs)), Threads: max(r.threads, 1), Graphs: r}
		useRef := false
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			d, ok := vals[v]
			if !ok {
				return nil, fmt.Errorf("%s: input %q has no value", n, v.Name)
			}
			c.In[i] = d
			useRef = useRef || d.DType == tensor.Float64
		}
		if imp := n.ImplicitInputs(); len(imp) > 0 {
			c.Outer = make(map[string]*tensor.Dense, len(imp))
			for _, v := range imp {
				d, ok := vals[v]
				if !ok {
					return nil, fmt.Errorf("%s: outer value %q has no value", n, v.Name)
				}
				c.Outer[v.Name] = d
			}
		}
		run := op.Run
		if useRef && op.Ref != nil {
			run = op.Ref
		}
		out, err := run(c)
		if err != nil {
			return nil, err
		}
		for i, v := range n.Outputs {
			if v != nil && i < len(out) {
				vals[v] = out[i]
			}
		}
	}
	res := make([]*tensor.Dense, len(g.Outputs))
	for i, v := range g.Outputs {
		d, ok := vals[v]
		if !ok {
			return nil, fmt.Errorf("output %q was not computed", v.Name)
		}
		res[i] = d
	}
	return res, nil
}

package surgery

import (
	"fmt"
	"strings"

	"github.com/graft-ml/graft/onnx"
)

// StitchReport says what Stitch did.
type StitchReport struct {
	Opset              int64  // default-domain opset of the result
	SharedInitializers int    // B's (and the adapter's) initializers reused from A
	AType, BType       string // shapes at the cut in A and B
}

// Stitch joins model a up to layer at, an adapter, and model b from layer
// from on, into one model, built in place in a (which is consumed, like b
// and adapter). A nil adapter is the identity. B's and the adapter's values
// are renamed under the scopes "B/" and "adapter/" (B's module paths become
// B.layer3 and so on) and B's outputs keep their names where they are free;
// initializers identical to one of A's are shared. The models' opsets are
// reconciled by upgrading the older ones (see Upgrade). Shapes must agree at
// both joints; a mismatch is an error that says what differs and which
// adapter would fit.
func Stitch(a *onnx.Model, at string, b *onnx.Model, from string, adapter *onnx.Model) (StitchReport, error) {
	var r StitchReport
	target := max(a.Opset(""), b.Opset(""))
	if adapter != nil {
		target = max(target, adapter.Opset(""))
	}
	for _, m := range []struct {
		name string
		m    *onnx.Model
	}{{"A", a}, {"B", b}, {"adapter", adapter}} {
		if m.m == nil {
			continue
		}
		if err := Upgrade(m.m, target); err != nil {
			return r, fmt.Errorf("stitch: model %s: %w", m.name, err)
		}
	}
	r.Opset = target

	if err := Truncate(a, at); err != nil {
		return r, fmt.Errorf("stitch: model A: %w", err)
	}
	av := a.Graph.Outputs[0]
	bOutputs := make([]string, len(b.Graph.Outputs))
	for i, v := range b.Graph.Outputs {
		bOutputs[i] = v.Name
	}
	extra, err := Extract(b, []string{from}, bOutputs)
	if err != nil {
		return r, fmt.Errorf("stitch: model B: %w", err)
	}
	if len(extra) > 0 {
		return r, fmt.Errorf("stitch: model B after %q still reads its input(s) %s, so it cannot be fed from A alone", from, strings.Join(extra, ", "))
	}
	bv := nonConstInputs(b.Graph)[0]
	r.AType, r.BType = av.Type.ShapeString(), bv.Type.ShapeString()

	g := a.Graph
	join := av
	if adapter != nil {
		ag := adapter.Graph
		if n := len(nonConstInputs(ag)); n != 1 || len(ag.Outputs) != 1 {
			return r, fmt.Errorf("stitch: the adapter must have one input and one output, has %d and %d", n, len(ag.Outputs))
		}
		in := nonConstInputs(ag)[0]
		if err := joinable(av.Type, in.Type); err != nil {
			return r, fmt.Errorf("stitch: A at %q does not fit the adapter's input: %w", at, err)
		}
		if err := joinable(ag.Outputs[0].Type, bv.Type); err != nil {
			return r, fmt.Errorf("stitch: the adapter's output does not fit B at %q: %w", from, err)
		}
		im := newImporter(g, "adapter")
		im.bind(in, av)
		if err := im.nodes(ag); err != nil {
			return r, fmt.Errorf("stitch: adapter: %w", err)
		}
		r.SharedInitializers += im.shared
		if join, err = im.value(ag.Outputs[0]); err != nil {
			return r, fmt.Errorf("stitch: adapter: %w", err)
		}
	} else if err := joinable(av.Type, bv.Type); err != nil {
		return r, fmt.Errorf("stitch: A at %q does not fit B at %q: %w", at, from, err)
	}

	im := newImporter(g, "B")
	im.bind(bv, join)
	if err := im.nodes(b.Graph); err != nil {
		return r, fmt.Errorf("stitch: model B: %w", err)
	}
	r.SharedInitializers += im.shared
	var outs []*onnx.Value
	for _, v := range b.Graph.Outputs {
		w, err := im.value(v)
		if err != nil {
			return r, fmt.Errorf("stitch: model B: %w", err)
		}
		if w == join {
			// B's output is its cut point itself: give it its own name.
			w = g.AddNode("Identity", "", "B/output", []*onnx.Value{w}, []string{v.Name}).Outputs[0]
		}
		outs = append(outs, w)
	}
	g.Outputs = outs
	g.Cleanup()
	for i, v := range outs {
		if g.Value(bOutputs[i]) == nil {
			if err := g.Rename(v, bOutputs[i]); err != nil {
				return r, fmt.Errorf("stitch: %w", err)
			}
		}
	}
	mergeOpsets(a, b, adapter)
	if err := finish(a); err != nil {
		return r, fmt.Errorf("stitch: %w", err)
	}
	return r, nil
}

// nonConstInputs returns the graph inputs that are not initializers.
func nonConstInputs(g *onnx.Graph) []*onnx.Value {
	var out []*onnx.Value
	for _, v := range g.Inputs {
		if v.Const == nil {
			out = append(out, v)
		}
	}
	return out
}

// mergeOpsets adds the other models' non-default domains to a's imports and
// keeps the newest IR version.
func mergeOpsets(a *onnx.Model, others ...*onnx.Model) {
	for _, m := range others {
		if m == nil {
			continue
		}
		a.IRVersion = max(a.IRVersion, m.IRVersion)
		for _, o := range m.Opsets {
			if a.Opset(o.Domain) < o.Version {
				found := false
				for i := range a.Opsets {
					if a.Opsets[i].Domain == o.Domain {
						a.Opsets[i].Version, found = o.Version, true
					}
				}
				if !found {
					a.Opsets = append(a.Opsets, o)
				}
			}
		}
	}
}

// joinable checks that a value of type got can feed one declared as want.
// Unknown and symbolic dims match anything; otherwise a mismatch names the
// dims that differ, reads them as NCHW (or N×features) and says what kind
// of adapter would bridge them.
func joinable(got, want onnx.Type) error {
	if got.DType != want.DType && got.DType != 0 && want.DType != 0 {
		return fmt.Errorf("element types differ: %s vs %s", got.DType, want.DType)
	}
	if !got.HasShape || !want.HasShape {
		return nil
	}
	if len(got.Dims) != len(want.Dims) {
		return fmt.Errorf("ranks differ: %s vs %s; an adapter would have to reshape (a Flatten, or a pooling layer)", got.ShapeString(), want.ShapeString())
	}
	var channels, spatial bool
	for i := range got.Dims {
		g, w := got.Dims[i], want.Dims[i]
		if !g.Known() || !w.Known() || g.Value == w.Value {
			continue
		}
		if i == 1 {
			channels = true
		} else if i >= 2 {
			spatial = true
		}
		if i == 0 {
			return fmt.Errorf("batch sizes differ: %s vs %s", got.ShapeString(), want.ShapeString())
		}
	}
	switch {
	case channels && spatial:
		return fmt.Errorf("channels and spatial size differ: %s vs %s; an adapter needs a 1x1 Conv from %d to %d channels and a resize", got.ShapeString(), want.ShapeString(), got.Dims[1].Value, want.Dims[1].Value)
	case channels && len(got.Dims) == 2:
		return fmt.Errorf("widths differ: %s vs %s; a Linear (Gemm) adapter from %d to %d features would fit", got.ShapeString(), want.ShapeString(), got.Dims[1].Value, want.Dims[1].Value)
	case channels:
		return fmt.Errorf("channels differ: %s vs %s; a 1x1 Conv adapter from %d to %d channels would fit", got.ShapeString(), want.ShapeString(), got.Dims[1].Value, want.Dims[1].Value)
	case spatial:
		return fmt.Errorf("spatial sizes differ: %s vs %s; an adapter must resize (Resize, or a strided Conv or pooling)", got.ShapeString(), want.ShapeString())
	}
	return nil
}

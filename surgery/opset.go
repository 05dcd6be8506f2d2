package surgery

import (
	"fmt"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// minUpgradable is the oldest default-domain opset Upgrade converts from:
// the first that PyTorch's exporter still targets by default, and the one
// where Clip, Pad and Resize took their current form.
const minUpgradable = 11

// MaxKnownOpset is the newest default-domain opset whose operator changes
// graft knows: Upgrade converts up to it, and `graft check` warns about a
// model that imports a newer one, whose ops may have changed since.
const MaxKnownOpset = 18

// Upgrade rewrites m's default-domain nodes so that the model means the
// same at opset target, then imports that opset. Only the changes that
// matter between opsets 11 and 18 for the ops PyTorch exports are handled:
// attributes that became inputs (Squeeze, Unsqueeze, Split and ReduceSum at
// 13, the other reductions at 18), the new Softmax axis semantics at 13,
// and Dropout's ratio at 12. Older models, or targets beyond 18, fail with
// an error rather than a silently different model.
func Upgrade(m *onnx.Model, target int64) error {
	from := m.Opset("")
	if from == target {
		return nil
	}
	if from > target {
		return fmt.Errorf("opset %d cannot be lowered to %d", from, target)
	}
	if from < minUpgradable {
		return fmt.Errorf("opsets cannot be reconciled: the model imports opset %d, and graft upgrades from %d on; re-export it with opset_version >= %d", from, minUpgradable, minUpgradable)
	}
	if target > MaxKnownOpset {
		return fmt.Errorf("opsets cannot be reconciled: graft knows the operator changes up to opset %d, not %d", MaxKnownOpset, target)
	}
	g := m.Graph
	for _, n := range append([]*onnx.Node{}, g.Nodes...) {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			continue
		}
		if err := upgradeNode(g, n, from, target); err != nil {
			return fmt.Errorf("opsets cannot be reconciled: %w", err)
		}
	}
	for i, o := range m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			m.Opsets[i].Version = target
		}
	}
	return nil
}

// crosses reports whether an upgrade from → to passes opset v.
func crosses(from, to, v int64) bool { return from < v && to >= v }

func upgradeNode(g *onnx.Graph, n *onnx.Node, from, to int64) error {
	switch n.OpType {
	case "Squeeze", "Unsqueeze", "ReduceSum":
		if crosses(from, to, 13) {
			attrToInput(g, n, "axes", 1)
		}
	case "Split":
		if crosses(from, to, 13) {
			attrToInput(g, n, "split", 1)
		}
	case "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare":
		if crosses(from, to, 18) {
			attrToInput(g, n, "axes", 1)
		}
	case "Dropout":
		if crosses(from, to, 12) {
			// Ratio moved to an input; at inference it has no effect.
			removeAttr(n, "ratio")
		}
	case "Softmax", "LogSoftmax", "Hardmax":
		if crosses(from, to, 13) {
			return upgradeSoftmax(g, n)
		}
	}
	return nil
}

// attrToInput moves an ints attribute to an int64 constant input at index
// i, as opset 13 and 18 did for axes and split.
func attrToInput(g *onnx.Graph, n *onnx.Node, name string, i int) {
	a := n.Attr(name)
	if a == nil {
		return
	}
	c := g.AddConst(n.Name+"_"+name, tensor.FromI64([]int{len(a.Ints)}, append([]int64{}, a.Ints...)))
	removeAttr(n, name)
	n.SetInput(i, c)
}

func removeAttr(n *onnx.Node, name string) {
	for i, a := range n.Attrs {
		if a.Name == name {
			n.Attrs = append(n.Attrs[:i:i], n.Attrs[i+1:]...)
			return
		}
	}
}

// upgradeSoftmax keeps an opset<13 softmax's meaning, which normalises over
// the input flattened to 2-D at axis. When axis is the last one that is the
// new meaning too; otherwise the node becomes Flatten → Softmax(axis=1) →
// Reshape back to the input's shape.
func upgradeSoftmax(g *onnx.Graph, n *onnx.Node) error {
	axis := int64(1)
	if a := n.Attr("axis"); a != nil {
		axis = a.I
	}
	x := n.Input(0)
	rank := x.Type.Rank()
	if rank < 0 {
		return fmt.Errorf("%s: the rank of input %q is unknown, and opset 13 changed what axis %d means", n, x.Name, axis)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	if axis == int64(rank-1) {
		n.SetAttr(onnx.IntAttr("axis", axis))
		return nil
	}
	flat := g.AddNode("Flatten", "", n.Name+"_flatten", []*onnx.Value{x}, []string{x.Name + "_2d"}, onnx.IntAttr("axis", axis))
	soft := g.AddNode(n.OpType, "", n.Name, []*onnx.Value{flat.Outputs[0]}, []string{n.Outputs[0].Name + "_2d"}, onnx.IntAttr("axis", 1))
	shape := g.AddNode("Shape", "", n.Name+"_shape", []*onnx.Value{x}, []string{x.Name + "_shape"})
	back := g.AddNode("Reshape", "", n.Name+"_reshape", []*onnx.Value{soft.Outputs[0], shape.Outputs[0]}, []string{n.Outputs[0].Name + "_nd"})
	y := n.Outputs[0]
	name := y.Name
	y.ReplaceUses(back.Outputs[0], true)
	g.Remove(n)
	if err := g.Rename(back.Outputs[0], name); err != nil {
		return err
	}
	return g.Toposort()
}

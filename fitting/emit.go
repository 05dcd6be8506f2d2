package fitting

import (
	"errors"
	"fmt"
	"math"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// EmitGemm adds to g the nodes computing the map a on x, a float32 tensor
// (batch, In) (an unknown type is accepted), and returns their output, (batch, Out). A full-rank map is
// one Gemm (transB=1) with weight W (Out, In) and bias B; a map with
// factors is two, x → (batch, Rank) → (batch, Out), the first with a zero
// bias (so that the nodes are valid at every opset from 7 on), the second
// with B. Initializers are float32 named prefix+".weight", ".bias" (or
// ".down.weight", ".down.bias", ".up.weight", ".up.bias"), made unique in
// g, and the nodes are named after prefix too.
func EmitGemm(g *onnx.Graph, x *onnx.Value, a *Affine, prefix string) (*onnx.Value, error) {
	if err := emitCheck(g, x, a); err != nil {
		return nil, fmt.Errorf("fitting: emit gemm: %w", err)
	}
	if r := x.Type.Rank(); r != 2 && r != -1 {
		return nil, fmt.Errorf("fitting: emit gemm: input %s is %s, want rank 2 (batch, %d)", x, x.Type.ShapeString(), a.In)
	}
	batch := onnx.UnknownDim
	if x.Type.Rank() == 2 {
		if d := x.Type.Dims[1]; d.Known() && d.Value != int64(a.In) {
			return nil, fmt.Errorf("fitting: emit gemm: input %s has %d features, the map %d", x, d.Value, a.In)
		}
		batch = x.Type.Dims[0]
	}
	typ := func(n int) onnx.Type {
		return onnx.Type{DType: tensor.Float32, HasShape: true, Dims: []onnx.Dim{batch, {Value: int64(n)}}}
	}
	gemm := func(name string, in *onnx.Value, w []float64, rows, cols int, bias []float64, wName, bName string) (*onnx.Value, error) {
		wt, err := float32s(w, rows, cols)
		if err != nil {
			return nil, err
		}
		bt, err := float32s(bias, rows)
		if err != nil {
			return nil, err
		}
		n := g.AddNode("Gemm", "", name, []*onnx.Value{in, g.AddConst(wName, wt), g.AddConst(bName, bt)}, []string{name + "_out"}, onnx.IntAttr("transB", 1))
		y := n.Outputs[0]
		y.Type = typ(rows)
		return y, nil
	}
	if a.Down == nil {
		y, err := gemm(prefix+"/Gemm", x, a.W, a.Out, a.In, a.B, prefix+".weight", prefix+".bias")
		if err != nil {
			return nil, fmt.Errorf("fitting: emit gemm: %w", err)
		}
		return y, nil
	}
	h, err := gemm(prefix+"/down/Gemm", x, a.Down, a.Rank, a.In, make([]float64, a.Rank), prefix+".down.weight", prefix+".down.bias")
	if err != nil {
		return nil, fmt.Errorf("fitting: emit gemm: %w", err)
	}
	y, err := gemm(prefix+"/up/Gemm", h, a.Up, a.Out, a.Rank, a.B, prefix+".up.weight", prefix+".up.bias")
	if err != nil {
		return nil, fmt.Errorf("fitting: emit gemm: %w", err)
	}
	return y, nil
}

// EmitConv adds to g the nodes computing the map a as a convolution pt on
// x, a float32 NCHW tensor with C = In/(K·K) channels, and returns their
// output (N, Out, H', W'). W is read as the Conv weight (Out, C, K, K),
// which is how Unfold orders a patch. A full-rank map is one Conv with
// bias B; a map with factors is a K×K Conv to Rank channels (weight Down
// as (Rank, C, K, K), no bias) followed by a 1x1 Conv to Out channels
// (weight Up as (Out, Rank, 1, 1), bias B). Names are as for EmitGemm.
func EmitConv(g *onnx.Graph, x *onnx.Value, a *Affine, pt Patches, prefix string) (*onnx.Value, error) {
	if err := emitCheck(g, x, a); err != nil {
		return nil, fmt.Errorf("fitting: emit conv: %w", err)
	}
	if err := pt.validate(); err != nil {
		return nil, fmt.Errorf("fitting: emit conv: %w", err)
	}
	kk := pt.K * pt.K
	if a.In%kk != 0 {
		return nil, fmt.Errorf("fitting: emit conv: the map's %d inputs are not whole %d×%d patches", a.In, pt.K, pt.K)
	}
	c := a.In / kk
	if r := x.Type.Rank(); r != 4 && r != -1 {
		return nil, fmt.Errorf("fitting: emit conv: input %s is %s, want rank 4 (N, %d, H, W)", x, x.Type.ShapeString(), c)
	}
	dims := []onnx.Dim{onnx.UnknownDim, onnx.UnknownDim, onnx.UnknownDim, onnx.UnknownDim}
	if x.Type.Rank() == 4 {
		d := x.Type.Dims
		if d[1].Known() && d[1].Value != int64(c) {
			return nil, fmt.Errorf("fitting: emit conv: input %s has %d channels, the map %d (%d inputs in %d×%d patches)", x, d[1].Value, c, a.In, pt.K, pt.K)
		}
		dims[0] = d[0]
		if d[2].Known() && d[3].Known() {
			oh, ow, err := pt.OutSize(int(d[2].Value), int(d[3].Value))
			if err != nil {
				return nil, fmt.Errorf("fitting: emit conv: input %s: %w", x, err)
			}
			dims[2], dims[3] = onnx.Dim{Value: int64(oh)}, onnx.Dim{Value: int64(ow)}
		}
	}
	conv := func(name string, in *onnx.Value, w []float64, shape []int, bias []float64, wName, bName string, geom Patches) (*onnx.Value, error) {
		wt, err := float32s(w, shape...)
		if err != nil {
			return nil, err
		}
		ins := []*onnx.Value{in, g.AddConst(wName, wt)}
		if bias != nil {
			bt, err := float32s(bias, len(bias))
			if err != nil {
				return nil, err
			}
			ins = append(ins, g.AddConst(bName, bt))
		}
		p, s := int64(geom.Pad), int64(geom.stride())
		n := g.AddNode("Conv", "", name, ins, []string{name + "_out"},
			onnx.IntsAttr("kernel_shape", int64(geom.K), int64(geom.K)),
			onnx.IntsAttr("pads", p, p, p, p),
			onnx.IntsAttr("strides", s, s))
		y := n.Outputs[0]
		y.Type = onnx.Type{DType: tensor.Float32, HasShape: true, Dims: append([]onnx.Dim{dims[0], {Value: int64(shape[0])}}, dims[2:]...)}
		return y, nil
	}
	if a.Down == nil {
		y, err := conv(prefix+"/Conv", x, a.W, []int{a.Out, c, pt.K, pt.K}, a.B, prefix+".weight", prefix+".bias", pt)
		if err != nil {
			return nil, fmt.Errorf("fitting: emit conv: %w", err)
		}
		return y, nil
	}
	h, err := conv(prefix+"/down/Conv", x, a.Down, []int{a.Rank, c, pt.K, pt.K}, nil, prefix+".down.weight", "", pt)
	if err != nil {
		return nil, fmt.Errorf("fitting: emit conv: %w", err)
	}
	y, err := conv(prefix+"/up/Conv", h, a.Up, []int{a.Out, a.Rank, 1, 1}, a.B, prefix+".up.weight", prefix+".up.bias", Patches{K: 1})
	if err != nil {
		return nil, fmt.Errorf("fitting: emit conv: %w", err)
	}
	return y, nil
}

func emitCheck(g *onnx.Graph, x *onnx.Value, a *Affine) error {
	if g == nil || x == nil {
		return errors.New("nil graph or input")
	}
	if dt := x.Type.DType; dt != tensor.Float32 && dt != tensor.Undefined {
		return fmt.Errorf("input %s is %v, want float32", x, dt)
	}
	if err := a.validate(); err != nil {
		return err
	}
	return nil
}

// float32s converts v to a float32 tensor of the given shape, rejecting
// values float32 cannot hold.
func float32s(v []float64, shape ...int) (*tensor.Dense, error) {
	t := tensor.New(tensor.Float32, shape...)
	for i, f := range v {
		if math.Abs(f) > math.MaxFloat32 {
			return nil, fmt.Errorf("value %g overflows float32", f)
		}
		t.F32[i] = float32(f)
	}
	return t, nil
}

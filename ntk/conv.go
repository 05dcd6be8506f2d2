package ntk

import (
	"fmt"
	"slices"
	"sync"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// A conv layer on the product path keeps, per chunk, its unfolded input
// U (positions × Cin·k·k per sample) and its output gradients G (Cout ×
// positions per sample and output), not its per-sample weight gradients.
// Those, J(s, a) = G(s, a)·U(s), are formed for one layer at a time when
// the layer's term is contracted: for each sample one product of the
// gradients of all the group's outputs, stacked (outputs·Cout ×
// positions), with U, so that U is packed once per sample rather than
// once per output; the samples go in parallel, each product on one
// thread, so that every J is the same to the bit whatever chunk or shard
// it is computed in. The buffers come from the plan's pool and go back
// to it, so a run allocates them once, not per chunk or layer.

// convDims returns conv layer l's output channels, output positions per
// sample and unfolded columns (Cin·k·k) in factors f.
func convDims(f *factors, l *convLayer, nk int) (cout, pos, cols int) {
	u := f.unfolded[l]
	cols = u.Shape[1]
	pos = u.Shape[0] / f.n
	cout = len(f.convG[l]) / (f.n * nk * pos)
	return cout, pos, cols
}

// convBlockBytes is about how many bytes of a layer's per-sample weight
// gradients are formed at once for the trace and one-output kernels:
// outputs are taken a block at a time, as many as fit (at least one), so
// that a block is contracted while it is still in cache.
const convBlockBytes = 16 << 20

// convBlock returns how many outputs' weight gradients of a conv weight
// of size elements are formed at once for a chunk of n samples.
func convBlock(size, n, nk int) int {
	return max(1, min(nk, convBlockBytes/(4*n*size)))
}

// convScratch is the most elements of weight gradients contractConv forms
// at once for any layer, for a chunk of n samples: asking the pool for
// that much every time lets one buffer serve every layer.
func (p *plan) convScratch(n, nk int) int {
	most := 0
	for name := range p.convWeight {
		size := p.sizes[name]
		kb := nk
		if p.opt.Mode.Kind != Full {
			kb = convBlock(size, n, nk)
		}
		most = max(most, n*kb*size)
	}
	return most
}

// convWeightBlock sets dst to conv layer l's per-sample weight gradients
// for outputs [a0, a1) of the nk in f: n rows of (a1-a0)·Cout·Cin·k·k,
// sample s's gradients for the block's outputs side by side, so that a
// Gram matrix of the rows sums the block's outputs.
func (p *plan) convWeightBlock(f *factors, l *convLayer, nk, a0, a1 int, dst []float32) {
	n := f.n
	cout, pos, cols := convDims(f, l, nk)
	kb := a1 - a0
	g, u := f.convG[l], f.unfolded[l].F32
	p.perSample(n, func(s int, _ []float32) {
		gs := g[(s*nk+a0)*cout*pos : (s*nk+a1)*cout*pos]
		exec.MatMul(1, kb*cout, cols, pos, gs, u[s*pos*cols:(s+1)*pos*cols], dst[s*kb*cout*cols:(s+1)*kb*cout*cols])
	}, 0)
}

// convWeightJacobian sets dst to conv layer l's per-sample weight
// gradients for all nk outputs of f, (nk·n) × Cout·Cin·k·k with row
// a·n + s, as the full kernel pairs them.
func (p *plan) convWeightJacobian(f *factors, l *convLayer, nk int, dst []float32) {
	n := f.n
	cout, pos, cols := convDims(f, l, nk)
	size := cout * cols
	g, u := f.convG[l], f.unfolded[l].F32
	p.perSample(n, func(s int, tmp []float32) {
		exec.MatMul(1, nk*cout, cols, pos, g[s*nk*cout*pos:(s+1)*nk*cout*pos], u[s*pos*cols:(s+1)*pos*cols], tmp)
		for a := range nk {
			copy(dst[(a*n+s)*size:(a*n+s+1)*size], tmp[a*size:(a+1)*size])
		}
	}, nk*size)
}

// perSample runs fn for samples 0..n-1 on up to p.threads goroutines,
// each with its own scratch buffer of tmp elements.
func (p *plan) perSample(n int, fn func(s int, tmp []float32), tmp int) {
	workers := min(p.threads, n)
	var wg sync.WaitGroup
	for t := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []float32
			if tmp > 0 {
				buf = p.pool.get(tmp)
				defer p.pool.put(buf)
			}
			for s := t; s < n; s += workers {
				fn(s, buf)
			}
		}()
	}
	wg.Wait()
}

// contractConv adds the kernel of the product-path conv weights into s,
// one layer at a time in plan order (contract's order), and returns the
// most bytes of weight gradients formed at once.
func (p *plan) contractConv(name string, l *convLayer, fr, fc *factors, nk int, gram []float32, add func(name string, a, b int, vals []float32)) (scratch int64) {
	nr, ncn := fr.n, fc.n
	size := p.sizes[name]
	full := p.opt.Mode.Kind == Full
	kb := nk
	if !full {
		kb = convBlock(size, max(nr, ncn), nk)
	}
	jr := p.pool.get(p.convScratch(nr, nk))[:nr*kb*size]
	defer p.pool.put(jr)
	jc := jr
	if fc != fr {
		jc = p.pool.get(p.convScratch(ncn, nk))[:ncn*kb*size]
		defer p.pool.put(jc)
	}
	scratch = int64(4 * (len(jr) + len(jc)))
	if fc == fr {
		scratch /= 2
	}
	if full {
		p.convWeightJacobian(fr, l, nk, jr)
		if fc != fr {
			p.convWeightJacobian(fc, l, nk, jc)
		}
		for a := range nk {
			for b := range nk {
				exec.Gram(p.threads, nr, ncn, size, jr[a*nr*size:(a+1)*nr*size], jc[b*ncn*size:(b+1)*ncn*size], gram)
				add(name, a, b, gram)
			}
		}
		return scratch
	}
	for a0 := 0; a0 < nk; a0 += kb {
		a1 := min(a0+kb, nk)
		w := (a1 - a0) * size
		p.convWeightBlock(fr, l, nk, a0, a1, jr[:nr*w])
		if fc != fr {
			p.convWeightBlock(fc, l, nk, a0, a1, jc[:ncn*w])
		}
		exec.Gram(p.threads, nr, ncn, w, jr[:nr*w], jc[:ncn*w], gram)
		add(name, a0, a0, gram)
	}
	return scratch
}

// convJacobianProduct stores what conv layer l's product path needs of
// output index ai (of nk) for the chunk: the layer input unfolded (once
// per chunk), each sample's output gradient G, and the bias gradient, G's
// row sums.
func (p *plan) convJacobianProduct(f *factors, l *convLayer, xv, gy *tensor.Dense, ai, nk int) error {
	n := f.n
	if f.unfolded == nil {
		f.unfolded = map[*convLayer]*tensor.Dense{}
		f.convG = map[*convLayer][]float32{}
	}
	u := f.unfolded[l]
	if u == nil {
		var err error
		if u, err = p.unfold(xv, *l.patches); err != nil {
			return fmt.Errorf("ntk: conv %s: %w", l.node.Name, err)
		}
		f.unfolded[l] = u
		f.bytes += int64(4 * len(u.F32))
	}
	cout := gy.Shape[1]
	pos := gy.Len() / (n * cout)
	if u.Shape[0] != n*pos {
		return fmt.Errorf("ntk: conv %s: %d unfolded rows for %d samples of %d positions", l.node.Name, u.Shape[0], n, pos)
	}
	per := cout * pos
	if l.weight != "" {
		g := f.convG[l]
		if g == nil {
			g = p.pool.get(n * nk * per)
			f.convG[l] = g
			f.bytes += int64(4 * len(g))
		}
		for s := range n {
			copy(g[(s*nk+ai)*per:(s*nk+ai+1)*per], gy.F32[s*per:(s+1)*per])
		}
	}
	if l.bias != "" {
		if f.jac[l.bias] == nil {
			f.jac[l.bias] = make([]float32, nk*n*cout)
			f.bytes += int64(4 * nk * n * cout)
		}
		dst := f.jac[l.bias]
		for s := range n {
			g := gy.F32[s*per : (s+1)*per]
			for co := range cout {
				var sum float32
				for _, v := range g[co*pos : (co+1)*pos] {
					sum += v
				}
				dst[(ai*n+s)*cout+co] = sum
			}
		}
	}
	return nil
}

// unfold returns the NCHW activation x unfolded as fitting.Unfold does
// it, (N·H'·W') × C·k·k, into a buffer of the pool, the samples in
// parallel.
func (p *plan) unfold(x *tensor.Dense, pt fitting.Patches) (*tensor.Dense, error) {
	if x.Rank() != 4 || x.DType != tensor.Float32 {
		return nil, fmt.Errorf("unfold: input is %s%v, want float32 NCHW", x.DType, x.Shape)
	}
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow, err := pt.OutSize(h, w)
	if err != nil {
		return nil, fmt.Errorf("unfold: %w", err)
	}
	k, stride := pt.K, max(pt.Stride, 1)
	cols := c * k * k
	rows := oh * ow
	u := tensor.FromF32([]int{n * rows, cols}, p.pool.get(n*rows*cols))
	p.perSample(n, func(s int, _ []float32) {
		img := x.F32[s*c*h*w : (s+1)*c*h*w]
		dst := u.F32[s*rows*cols : (s+1)*rows*cols]
		for oy := range oh {
			for ox := range ow {
				row := dst[(oy*ow+ox)*cols : (oy*ow+ox+1)*cols]
				y0, x0 := oy*stride-pt.Pad, ox*stride-pt.Pad
				i := 0
				for ch := range c {
					plane := img[ch*h*w : (ch+1)*h*w]
					for ky := range k {
						iy := y0 + ky
						if iy < 0 || iy >= h {
							clear(row[i : i+k])
							i += k
							continue
						}
						line := plane[iy*w : (iy+1)*w]
						for kx := range k {
							if ix := x0 + kx; ix >= 0 && ix < w {
								row[i] = line[ix]
							} else {
								row[i] = 0
							}
							i++
						}
					}
				}
			}
		}
	}, 0)
	return u, nil
}

// savedValues returns the forward values of gradient model gm that its
// backward nodes read and that depend on the samples (the model input
// and the per-sample extra inputs): supplied to the backward passes,
// they let the forward pass run once per chunk rather than once per
// output. orig is the model gm was derived from; its nodes are the
// forward ones. The values named in also (the layers' inputs, which the
// factors read) are saved too when they qualify. Only values declared with the input's symbolic batch dim
// first are saved (a value whose rows are not the samples could not be
// run in slices, and is recomputed instead); a model with a fixed batch
// saves none.
func savedValues(orig, gm *onnx.Graph, inputs, also []string) []string {
	in := gm.Value(inputs[0])
	if in == nil || !in.Type.HasShape || len(in.Type.Dims) == 0 || in.Type.Dims[0].Param == "" {
		return nil
	}
	batch := in.Type.Dims[0].Param
	batchFirst := func(v *onnx.Value) bool {
		return v.Type.HasShape && len(v.Type.Dims) > 0 && v.Type.Dims[0].Param == batch
	}
	forward := map[string]bool{}
	for _, n := range orig.Nodes {
		for _, v := range n.Outputs {
			if v != nil {
				forward[v.Name] = true
			}
		}
	}
	perSample := map[string]bool{}
	for _, name := range inputs {
		perSample[name] = true
	}
	var saved []string
	seen := map[string]bool{}
	for _, n := range gm.Nodes {
		reads := append(slices.Clone(n.Inputs), n.ImplicitInputs()...)
		isForward := len(n.Outputs) > 0 && n.Outputs[0] != nil && forward[n.Outputs[0].Name]
		dep := false
		for _, v := range reads {
			if v != nil && perSample[v.Name] {
				dep = true
			}
		}
		if isForward {
			if dep {
				for _, v := range n.Outputs {
					if v != nil {
						perSample[v.Name] = true
					}
				}
			}
			continue
		}
		for _, v := range reads {
			if v != nil && forward[v.Name] && perSample[v.Name] && !seen[v.Name] && v.Type.DType == tensor.Float32 && batchFirst(v) {
				seen[v.Name] = true
				saved = append(saved, v.Name)
			}
		}
	}
	for _, name := range also {
		if v := gm.Value(name); v != nil && forward[name] && perSample[name] && !seen[name] && v.Type.DType == tensor.Float32 && batchFirst(v) {
			seen[name] = true
			saved = append(saved, name)
		}
	}
	return saved
}

// pool lends float32 buffers for a plan's chunks and contractions and
// takes them back, so that a run reuses the memory it has touched rather
// than asking the runtime (and the kernel) for fresh pages per chunk.
type pool struct {
	mu   sync.Mutex
	free [][]float32
}

// get returns a buffer of length n (its contents are arbitrary): the
// smallest free one that holds n, else a new one.
func (pl *pool) get(n int) []float32 {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	best := -1
	for i, b := range pl.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(pl.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return make([]float32, n)
	}
	b := pl.free[best]
	pl.free = slices.Delete(pl.free, best, best+1)
	return b[:n]
}

// put returns b to the pool.
func (pl *pool) put(b []float32) {
	if cap(b) == 0 {
		return
	}
	pl.mu.Lock()
	pl.free = append(pl.free, b)
	pl.mu.Unlock()
}

package ntk

import (
	"fmt"

	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// factors are what the kernel needs of a chunk of samples: for each Gemm
// layer its inputs and, per output a, its output gradients; for every
// other parameter its per-sample gradients per output. Matrices are
// row-major with one row per (output, sample): row a·n + s.
type factors struct {
	n     int
	gemmX map[*gemmLayer][]float32 // n × in
	gemmG map[*gemmLayer][]float32 // (len(outs)·n) × out
	jac   map[string][]float32     // (len(outs)·n) × size
	// unfolded holds conv layers' inputs as patch rows, once per chunk,
	// and convG their output gradients, (n·len(outs)) × Cout·positions
	// with row s·len(outs) + a (see convWeightJacobian).
	unfolded map[*convLayer]*tensor.Dense
	convG    map[*convLayer][]float32
	bytes    int64
}

// release gives f's pooled buffers back to p's pool.
func (p *plan) release(f *factors) {
	for l, g := range f.convG {
		p.pool.put(g)
		delete(f.convG, l)
	}
	for l, u := range f.unfolded {
		p.pool.put(u.F32)
		delete(f.unfolded, l)
	}
}

// outputs lists the outputs a whose gradients the mode needs.
func (p *plan) outputs() []int {
	if p.opt.Mode.Kind == Output {
		return []int{p.opt.Mode.K}
	}
	outs := make([]int, p.k)
	for i := range outs {
		outs[i] = i
	}
	return outs
}

// perSampleBytes estimates the bytes of factors one sample needs: base,
// whatever the outputs, and perOutput more for each output whose
// gradients are held.
func (p *plan) perSampleBytes(x *tensor.Dense) (base, perOutput int64) {
	for _, l := range p.gemms {
		base += 4 * typeSize(l.node.Inputs[0].Type)
		perOutput += 4 * typeSize(l.node.Outputs[0].Type)
	}
	var jac int64 // the largest conv weight's per-sample gradients, formed one layer at a time
	for _, l := range p.convs {
		base += 4 * typeSize(l.node.Inputs[0].Type)
		perOutput += 4 * typeSize(l.node.Outputs[0].Type)
		if l.patches == nil {
			for _, name := range l.params {
				perOutput += 4 * int64(p.sizes[name])
			}
			continue
		}
		base += 4 * typeSize(l.node.Inputs[0].Type) * int64(l.patches.K*l.patches.K) // unfolded input
		if l.weight != "" {
			jac = max(jac, 4*int64(p.sizes[l.weight]))
		}
	}
	if p.opt.Mode.Kind == Full {
		perOutput += jac // every output's, paired with every other's
	} else {
		base += jac // a block of outputs' (see convBlock)
	}
	for _, name := range p.generic {
		perOutput += 4 * int64(p.sizes[name])
	}
	return max(base, 4*int64(x.Len()/x.Shape[0])), perOutput
}

// sizing chooses how many samples (chunk) and outputs (group) have their
// gradients held at once, so that two chunks' factors (rows and columns),
// or one where a symmetric block fits in one chunk, stay within the
// budget: samples first, then fewer outputs at a time
// where even one sample's gradients for every output do not fit (a
// 1000-class model's conv layers, say). The full kernel pairs every
// output with every other, so it takes all outputs at once or fails with
// an error that says what would fit.
func (p *plan) sizing(x *tensor.Dense, nr, nc int, symmetric bool) (chunk, group int, err error) {
	budget := p.opt.MaxBytes
	if budget <= 0 {
		budget = 512 << 20
	}
	base, perOut := p.perSampleBytes(x)
	nk := int64(len(p.outputs()))
	group = int(nk)
	chunk = p.opt.Chunk
	if chunk <= 0 {
		chunk = int(max(1, budget/(2*(base+nk*perOut))))
		if symmetric && chunk < nr && int64(nr)*(base+nk*perOut) <= budget {
			chunk = nr // one chunk, whose factors are both rows and columns
		}
	}
	chunk = min(chunk, max(nr, nc))
	held := int64(2) // chunks whose factors are held at once
	if symmetric && chunk >= nr {
		held = 1
	}
	need := held * int64(chunk) * (base + nk*perOut)
	if need <= budget || nk == 1 {
		return chunk, group, nil
	}
	if p.opt.Mode.Kind == Full {
		return 0, 0, fmt.Errorf("ntk: the full kernel needs the gradients of all %d outputs at once, %d MB per sample, beyond the %d MB allowed: use the trace or one output, fewer parameters, or more memory", nk, (base+nk*perOut)>>20, budget>>20)
	}
	group = int(max(1, (budget/(held*int64(chunk))-base)/max(perOut, 1)))
	return chunk, min(group, int(nk)), nil
}

// typeSize is the per-sample element count of a (batch, ...) value, or a
// guess of 4096 where the shape is not known statically.
func typeSize(t onnx.Type) int64 {
	if !t.HasShape || len(t.Dims) == 0 {
		return 4096
	}
	n := int64(1)
	for _, d := range t.Dims[1:] {
		if !d.Known() {
			return 4096
		}
		n *= d.Value
	}
	return n
}

// span is a piece of the kernel computed with one row chunk's factors:
// the samples rows (at most one chunk) against the samples cols, taken a
// chunk at a time from cols.Lo.
type span struct{ rows, cols Range }

// sink is where contract adds a span's values: a kernel (and per-parameter
// kernels) with nc columns whose element (0, 0) is the sample pair
// (r0, c0).
type sink struct {
	kernel *tensor.Dense
	comps  map[string]*tensor.Dense
	r0, c0 int
	nc     int
}

// newSink allocates a zero kernel block (and components) for nr × nc
// sample pairs at (r0, c0).
func (p *plan) newSink(r0, c0, nr, nc int) sink {
	shape := []int{nr, nc}
	if p.opt.Mode.Kind == Full {
		shape = append(shape, p.k, p.k)
	}
	s := sink{kernel: tensor.New(tensor.Float64, shape...), r0: r0, c0: c0, nc: nc}
	if p.opt.Components {
		s.comps = map[string]*tensor.Dense{}
		for _, name := range p.params {
			s.comps[name] = tensor.New(tensor.Float64, shape...)
		}
	}
	return s
}

// compute returns the block Θ[rows, cols]. A block over the same samples
// is symmetric (Θ[m, n, b, a] = Θ[n, m, a, b]): only the chunk pairs on
// and above the diagonal are computed, the others mirrored, which halves
// the backward passes and contractions. Shards of the whole kernel
// (computeShard) compute runs of the same chunk pairs the same way, so
// that their tiles are bit for bit the whole kernel's.
func (p *plan) compute(x *tensor.Dense, rows, cols Range) (*Result, error) {
	nr, nc := rows.Hi-rows.Lo, cols.Hi-cols.Lo
	res := &Result{Params: p.params, Paths: p.paths, Outputs: p.k, Samples: x.Shape[0]}
	symmetric := rows == cols
	chunk, group, err := p.sizing(x, nr, nc, symmetric)
	if err != nil {
		return nil, err
	}
	res.Chunk, res.OutputGroup = chunk, group
	out := p.newSink(rows.Lo, cols.Lo, nr, nc)
	res.Kernel, res.Components = out.kernel, out.comps
	var spans []span
	for r0 := rows.Lo; r0 < rows.Hi; r0 += chunk {
		sp := span{Range{r0, min(r0+chunk, rows.Hi)}, cols}
		if symmetric {
			sp.cols.Lo = r0 // the chunks left of the diagonal are mirrored
		}
		spans = append(spans, sp)
	}
	sinks := make([]sink, len(spans))
	for i := range sinks {
		sinks[i] = out
	}
	if err := p.computeSpans(x, spans, sinks, chunk, group, res); err != nil {
		return nil, err
	}
	if symmetric {
		mirror(res.Kernel, nr, p.k, p.opt.Mode.Kind == Full, func(r, c int) bool { return r/chunk > c/chunk })
		for _, d := range res.Components {
			mirror(d, nr, p.k, p.opt.Mode.Kind == Full, func(r, c int) bool { return r/chunk > c/chunk })
		}
	}
	return res, nil
}

// mirror sets each element (r, c) of the n×n kernel d for which lower(r, c)
// holds from (c, r): Θ[r, c, a, b] = Θ[c, r, b, a] for the full kernel
// (k outputs), Θ[r, c] = Θ[c, r] otherwise.
func mirror(d *tensor.Dense, n, k int, full bool, lower func(r, c int) bool) {
	for r := range n {
		for c := range r {
			if lower(r, c) {
				mirrorOne(d.F64, d.F64, n, k, full, r, c)
			}
		}
	}
}

// mirrorOne sets element (r, c) of dst from element (c, r) of src, both
// n×n kernels (×k×k when full).
func mirrorOne(dst, src []float64, n, k int, full bool, r, c int) {
	if !full {
		dst[r*n+c] = src[c*n+r]
		return
	}
	to, from := (r*n+c)*k*k, (c*n+r)*k*k
	for a := range k {
		for b := range k {
			dst[to+a*k+b] = src[from+b*k+a]
		}
	}
}

// computeSpans adds every span's kernel values to its sink: for each group
// of outputs, the row chunk's factors once and each column chunk's (the
// row chunk's own reused), contracted. Every kernel element receives its
// terms in the same order (output groups, then parameters in plan order)
// whichever spans it is computed in.
func (p *plan) computeSpans(x *tensor.Dense, spans []span, sinks []sink, chunk, group int, res *Result) error {
	outs := p.outputs()
	total := 0
	for g0 := 0; g0 < len(outs); g0 += group {
		for _, sp := range spans {
			total += sp.rows.Hi - sp.rows.Lo
			for c0 := sp.cols.Lo; c0 < sp.cols.Hi; c0 += chunk {
				if c1 := min(c0+chunk, sp.cols.Hi); c0 != sp.rows.Lo || c1 != sp.rows.Hi {
					total += c1 - c0
				}
			}
		}
	}
	done := 0
	report := func(n int) {
		done += n
		if p.opt.Progress != nil {
			p.opt.Progress(min(done, total), total)
		}
	}
	// Outputs in groups: the trace and one-output kernels pair each
	// output only with itself, so groups are independent.
	for g0 := 0; g0 < len(outs); g0 += group {
		gouts := outs[g0:min(g0+group, len(outs))]
		for i, sp := range spans {
			r0, r1 := sp.rows.Lo, sp.rows.Hi
			fr, err := p.factors(x, r0, r1, gouts)
			if err != nil {
				return err
			}
			report(r1 - r0)
			for c0 := sp.cols.Lo; c0 < sp.cols.Hi; c0 += chunk {
				c1 := min(c0+chunk, sp.cols.Hi)
				fc := fr
				if c0 != r0 || c1 != r1 {
					if fc, err = p.factors(x, c0, c1, gouts); err != nil {
						return err
					}
					report(c1 - c0)
				}
				s := sinks[i]
				scratch := p.contract(s, fr, fc, r0-s.r0, c0-s.c0, gouts)
				held := fr.bytes + scratch
				if fc != fr {
					held += fc.bytes
					p.release(fc)
				}
				res.PeakBytes = max(res.PeakBytes, held)
			}
			p.release(fr)
		}
	}
	return nil
}

// factors runs the backward passes for samples [lo, hi): the forward
// pass once, then one backward pass per output from its saved values.
func (p *plan) factors(x *tensor.Dense, lo, hi int, outs []int) (*factors, error) {
	n := hi - lo
	f := &factors{n: n, gemmX: map[*gemmLayer][]float32{}, gemmG: map[*gemmLayer][]float32{}, jac: map[string][]float32{}}
	nk := len(outs)
	if p.grad != nil {
		want := []string{}
		for _, l := range p.gemms {
			want = append(want, p.gradOf[l.y], l.x)
		}
		for _, l := range p.convs {
			want = append(want, p.gradOf[l.y], l.x)
		}
		in := p.feed(x, lo, hi)
		if len(p.saved) > 0 && nk > 1 {
			fwd, err := p.run(p.grad, in, p.saved)
			if err != nil {
				return nil, fmt.Errorf("ntk: forward pass: %w", err)
			}
			for name, d := range fwd {
				if d.Rank() > 0 && d.Shape[0] == n {
					in[name] = d
				}
			}
		}
		for ai, a := range outs {
			seed := tensor.New(tensor.Float32, n, p.k)
			for s := range n {
				seed.F32[s*p.k+a] = 1
			}
			in[p.seed] = seed.Reshaped(seedShape(p, n))
			res, err := p.run(p.grad, in, want)
			if err != nil {
				return nil, fmt.Errorf("ntk: backward pass for output %d: %w", a, err)
			}
			for _, l := range p.gemms {
				gy := res[p.gradOf[l.y]]
				per := gy.Len() / n
				if f.gemmG[l] == nil {
					f.gemmG[l] = make([]float32, nk*n*per)
					xv := res[l.x]
					f.gemmX[l] = append([]float32(nil), xv.F32...)
					f.bytes += int64(4 * (len(f.gemmG[l]) + len(xv.F32)))
				}
				copy(f.gemmG[l][ai*n*per:], gy.F32)
			}
			for _, l := range p.convs {
				if err := p.convJacobian(f, l, res[l.x], res[p.gradOf[l.y]], ai, nk); err != nil {
					return nil, err
				}
			}
		}
	}
	if p.fullGrad != nil {
		for s := range n {
			for ai, a := range outs {
				seed := tensor.New(tensor.Float32, 1, p.k)
				seed.F32[a] = 1
				in := p.feed(x, lo+s, lo+s+1)
				in[p.fullSeed] = seed.Reshaped(seedShape(p, 1))
				res, err := p.run(p.fullGrad, in, mapValues(p.fullOut, p.generic))
				if err != nil {
					return nil, fmt.Errorf("ntk: backward pass for sample %d, output %d: %w", lo+s, a, err)
				}
				for _, name := range p.generic {
					size := p.sizes[name]
					if f.jac[name] == nil {
						f.jac[name] = make([]float32, nk*n*size)
						f.bytes += int64(4 * nk * n * size)
					}
					copy(f.jac[name][(ai*n+s)*size:], res[p.fullOut[name]].F32)
				}
			}
		}
	}
	return f, nil
}

// convJacobian computes each sample's gradient of conv layer l's
// parameters for output index ai from the layer input xv and output
// gradient gy of the whole chunk.
func (p *plan) convJacobian(f *factors, l *convLayer, xv, gy *tensor.Dense, ai, nk int) error {
	n := f.n
	if l.patches != nil {
		return p.convJacobianProduct(f, l, xv, gy, ai, nk)
	}
	xPer, gPer := xv.Len()/n, gy.Len()/n
	for s := range n {
		x1 := tensor.FromF32(append([]int{1}, xv.Shape[1:]...), xv.F32[s*xPer:(s+1)*xPer])
		g1 := tensor.FromF32(append([]int{1}, gy.Shape[1:]...), gy.F32[s*gPer:(s+1)*gPer])
		res, err := l.grad.Run(map[string]*tensor.Dense{l.xName: x1, l.seed: g1}, exec.RunOptions{Outputs: l.grads})
		if err != nil {
			return fmt.Errorf("ntk: conv %s, sample gradient: %w", l.node.Name, err)
		}
		for i, name := range l.params {
			size := p.sizes[name]
			if f.jac[name] == nil {
				f.jac[name] = make([]float32, nk*n*size)
				f.bytes += int64(4 * nk * n * size)
			}
			copy(f.jac[name][(ai*n+s)*size:], res[l.grads[i]].F32)
		}
	}
	return nil
}

// contract adds Θ[fr samples, fc samples] into s at row offset r0 and
// column offset c0, and returns the most bytes of per-sample gradients it
// formed at once (conv weights', one layer at a time).
func (p *plan) contract(s sink, fr, fc *factors, r0, c0 int, outs []int) (scratch int64) {
	nc := s.nc
	nr, ncn := fr.n, fc.n
	nk := len(outs)
	gram := make([]float32, nr*ncn)
	add := func(name string, scale float64, a, b int, vals []float32, other []float32) {
		// other, if not nil, multiplies elementwise (the Gemm x·x term).
		for i := range nr {
			for j := range ncn {
				v := float64(vals[i*ncn+j]) * scale
				if other != nil {
					v *= float64(other[i*ncn+j])
				}
				idx := p.index(r0+i, c0+j, nc, outs[a], outs[b])
				s.kernel.F64[idx] += v
				if s.comps != nil {
					s.comps[name].F64[idx] += v
				}
			}
		}
	}
	pairs := func(fn func(a, b int)) {
		for a := range nk {
			if p.opt.Mode.Kind == Full {
				for b := range nk {
					fn(a, b)
				}
			} else {
				fn(a, a)
			}
		}
	}
	for _, l := range p.gemms {
		in := len(fr.gemmX[l]) / nr
		xx := make([]float32, nr*ncn)
		exec.Gram(p.threads, nr, ncn, in, fr.gemmX[l], fc.gemmX[l], xx)
		out := len(fr.gemmG[l]) / (nk * nr)
		pairs(func(a, b int) {
			exec.Gram(p.threads, nr, ncn, out, fr.gemmG[l][a*nr*out:(a+1)*nr*out], fc.gemmG[l][b*ncn*out:(b+1)*ncn*out], gram)
			if l.weight != "" {
				add(l.weight, l.alpha*l.alpha, a, b, gram, xx)
			}
			if l.bias != "" {
				add(l.bias, l.beta*l.beta, a, b, gram, nil)
			}
		})
	}
	for _, name := range p.params { // in plan order: the sums' order is fixed
		size := p.sizes[name]
		if l := p.convWeight[name]; l != nil && fr.convG[l] != nil {
			held := p.contractConv(name, l, fr, fc, nk, gram, func(name string, a, b int, vals []float32) {
				add(name, 1, a, b, vals, nil)
			})
			scratch = max(scratch, held)
			continue
		}
		jr, ok := fr.jac[name]
		if !ok {
			continue
		}
		jc := fc.jac[name]
		pairs(func(a, b int) {
			exec.Gram(p.threads, nr, ncn, size, jr[a*nr*size:(a+1)*nr*size], jc[b*ncn*size:(b+1)*ncn*size], gram)
			add(name, 1, a, b, gram, nil)
		})
	}
	return scratch
}

// index is the position of Θ[r, c, a, b] in the kernel's storage.
func (p *plan) index(r, c, nc, a, b int) int {
	if p.opt.Mode.Kind == Full {
		return ((r*nc+c)*p.k+a)*p.k + b
	}
	return r*nc + c
}

// seedShape is the shape of the output (and its seed) for n samples.
func seedShape(p *plan, n int) []int {
	return append([]int{n}, p.outShape...)
}

func mapValues(m map[string]string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

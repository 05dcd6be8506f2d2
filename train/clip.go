package train

import "math"

// ClipGradNorm scales the gradients of params in place so that their
// global L2 norm is at most maxNorm, as torch.nn.utils.clip_grad_norm_
// (norm_type 2) of PyTorch 1.13, and returns the norm before clipping. With
// total the L2 norm of all gradient elements together,
//
//	coef = maxNorm / (total + 1e-6)
//	g ← g·coef   for every gradient, if coef < 1
//
// coef is computed in float32 from the float32-rounded total, as PyTorch
// does. The norm is accumulated in float64, so it may differ from
// PyTorch's float32 norm in the last bit. Parameters without a float32
// gradient are skipped. If total is NaN or infinite, the gradients are left
// unchanged (PyTorch would make them NaN); the returned total tells the
// caller.
func ClipGradNorm(params []*Param, maxNorm float64) (total float64) {
	var sum float64
	for _, p := range params {
		if p == nil || p.Grad == nil {
			continue
		}
		for _, g := range p.Grad.F32 {
			sum += float64(g) * float64(g)
		}
	}
	total = math.Sqrt(sum)
	// torch: clip_coef = max_norm / (total_norm + 1e-6), where python's
	// scalar / tensor is tensor.reciprocal() * scalar.
	coef := float32(1/(float32(total)+float32(1e-6))) * float32(maxNorm)
	if !(coef < 1) || math.IsInf(total, 0) {
		return total
	}
	for _, p := range params {
		if p == nil || p.Grad == nil {
			continue
		}
		for j := range p.Grad.F32 {
			p.Grad.F32[j] *= coef
		}
	}
	return total
}

// Package ntk computes empirical neural tangent kernels of exported
// models, Θ(x, x') = J(x)·J(x')ᵀ with J the Jacobian of the outputs with
// respect to the parameters (the float initializers), and the spectra
// that NTK studies read from them. With Options.Loss the kernel is the
// task NTK, ⟨∇θ ℓ(x, y), ∇θ ℓ(x', y')⟩ of a per-sample loss (CrossEntropy),
// computed by appending the loss to the model and taking the kernel of
// that one output.
package ntk

// Package ntk computes empirical neural tangent kernels of exported
// models, Θ(x, x') = J(x)·J(x')ᵀ with J the Jacobian of the outputs with
// respect to the parameters (the float initializers), and the spectra
// that NTK studies read from them.
package ntk

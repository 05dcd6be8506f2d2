//go:build purego || !amd64

package gemm

// selectKernel returns the portable kernel: no assembly in this build.
func selectKernel() *kernel { return genericKernel }

// kernels lists the kernels usable on this machine, best first.
func kernels() []*kernel { return []*kernel{genericKernel} }

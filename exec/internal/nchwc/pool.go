package nchwc

// Pixel kernels over blocked maps: each pixel is one vector of Block
// channels, so a pooling window or a per-channel affine map is a few
// whole-vector operations per pixel, whatever the channel.

// MaxPool sets, for each pixel i < n, dst[i·16+c] = max_t
// src[offs[t] + i·stride·16 + c]: n outputs of a max pool whose taps lie
// at offs from each window's first pixel. A NaN tap may or may not make
// its output NaN (the vector max keeps one operand).
func MaxPool(dst, src []float32, offs []int, n, stride int) {
	if n == 0 {
		return
	}
	checkPixels(dst, src, offs, n, stride)
	if pixelKernels() {
		maxPixels(&dst[0], &src[0], &offs[0], len(offs), n, stride)
		return
	}
	for i := range n {
		d := dst[i*Block : (i+1)*Block]
		copy(d, src[offs[0]+i*stride*Block:])
		for _, o := range offs[1:] {
			s := src[o+i*stride*Block:]
			for c := range d {
				d[c] = max(d[c], s[c])
			}
		}
	}
}

// SumPool is MaxPool with the taps summed and the sum times scale:
// an average pool's outputs where every window has the same count.
func SumPool(dst, src []float32, offs []int, n, stride int, scale float32) {
	if n == 0 {
		return
	}
	checkPixels(dst, src, offs, n, stride)
	if pixelKernels() {
		sumPixels(&dst[0], &src[0], &offs[0], len(offs), n, stride, scale)
		return
	}
	for i := range n {
		d := dst[i*Block : (i+1)*Block]
		clear(d)
		for _, o := range offs {
			s := src[o+i*stride*Block:]
			for c := range d {
				d[c] += s[c]
			}
		}
		for c := range d {
			d[c] *= scale
		}
	}
}

// Affine sets dst[i·16+c] = min(max(src[i·16+c]·scale[c] +
// shift[c], lo), hi) for each pixel i < n: a per-channel affine map (an
// inference BatchNormalization) and clamp over a run of pixels of one
// block. dst may be src.
func Affine(dst, src []float32, n int, scale, shift []float32, lo, hi float32) {
	if n == 0 {
		return
	}
	if len(dst) < n*Block || len(src) < n*Block || len(scale) < Block || len(shift) < Block {
		panic("nchwc: affine operand too short")
	}
	if pixelKernels() {
		affinePixels(&dst[0], &src[0], n, &scale[0], &shift[0], lo, hi)
		return
	}
	for i := range n * Block {
		c := i % Block
		dst[i] = min(max(src[i]*scale[c]+shift[c], lo), hi)
	}
}

func checkPixels(dst, src []float32, offs []int, n, stride int) {
	if len(offs) == 0 || stride < 1 || len(dst) < n*Block {
		panic("nchwc: bad pixel kernel arguments")
	}
	if len(src) < NewTaps(offs).max+(n-1)*stride*Block+Block {
		panic("nchwc: pixel source too short")
	}
}

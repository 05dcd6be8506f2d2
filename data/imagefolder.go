package data

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the JPEG decoder with image.Decode
	_ "image/png"  // register the PNG decoder with image.Decode
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/graft-ml/graft/tensor"
)

// imageExts are the file extensions an image folder reads, compared
// without regard to case; other files are ignored.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// imageFolder is a folder with one subfolder of images per class, laid out
// as torchvision's ImageFolder expects: class i is the i-th subfolder in
// sorted order, and samples run class by class, each class's files in
// lexical order (subfolders within a class included). Each Batch decodes
// its images; none is kept in memory.
type imageFolder struct {
	root    string
	classes []string
	files   []string
	labels  []int64
	c, h, w int
	tf      *transform
}

// openImageFolder lists the images under root and decodes the first to
// learn the sample size and channels that opts leave open.
func openImageFolder(root string, opts Options) (Source, error) {
	entries, err := os.ReadDir(root) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	s := &imageFolder{root: root}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		label := int64(len(s.classes))
		s.classes = append(s.classes, e.Name())
		err := filepath.WalkDir(filepath.Join(root, e.Name()), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && imageExts[strings.ToLower(filepath.Ext(p))] {
				s.files = append(s.files, p)
				s.labels = append(s.labels, label)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data: %s: listing images: %w", root, err)
		}
	}
	if len(s.files) == 0 {
		return nil, fmt.Errorf("data: %s: no .png or .jpg images in its %d class subfolders: %w", root, len(s.classes), ErrUnknownFormat)
	}
	s.h, s.w, s.c = opts.Size[0], opts.Size[1], opts.Channels
	if s.h == 0 || s.c == 0 {
		img, err := decodeImage(s.files[0])
		if err != nil {
			return nil, err
		}
		if s.h == 0 {
			b := img.Bounds()
			s.h, s.w = b.Dy(), b.Dx()
		}
		if s.c == 0 {
			s.c = 3
			switch img.ColorModel() {
			case color.GrayModel, color.Gray16Model:
				s.c = 1
			}
		}
	}
	if s.tf, err = newTransform([]int{s.c, s.h, s.w}, true, opts); err != nil {
		return nil, fmt.Errorf("data: %s: %w", root, err)
	}
	return s, nil
}

func (s *imageFolder) Len() int           { return len(s.files) }
func (s *imageFolder) SampleShape() []int { return append([]int(nil), s.tf.out...) }
func (s *imageFolder) Path() string       { return s.root }

// Classes returns the class names, the subfolders' names: label i is
// Classes()[i].
func (s *imageFolder) Classes() []string { return append([]string(nil), s.classes...) }

func (s *imageFolder) Batch(start, n int) (*tensor.Dense, []int64, error) {
	if err := checkRange(s.root, start, n, len(s.files)); err != nil {
		return nil, nil, err
	}
	return s.gather(span(start, n))
}

// gather decodes the images on as many goroutines as GOMAXPROCS allows.
func (s *imageFolder) gather(idx []int) (*tensor.Dense, []int64, error) {
	x := tensor.NewUninit(tensor.Float32, append([]int{len(idx)}, s.tf.out...)...)
	y := make([]int64, len(idx))
	size := s.c * s.h * s.w
	errs := make([]error, len(idx))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(idx)) {
		wg.Go(func() {
			for k := range next {
				errs[k] = s.decodeInto(x.F32[k*size:(k+1)*size], s.files[idx[k]])
			}
		})
	}
	for k, i := range idx {
		next <- k
		y[k] = s.labels[i]
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	s.tf.apply(x.F32)
	return x, y, nil
}

// decodeInto decodes the image at path into dst as s.c planes of s.h×s.w
// values in 0..255, resizing it if its size differs.
func (s *imageFolder) decodeInto(dst []float32, path string) error {
	img, err := decodeImage(path)
	if err != nil {
		return err
	}
	b := img.Bounds()
	if b.Dy() == s.h && b.Dx() == s.w {
		planes(dst, img, s.c)
		return nil
	}
	src := make([]float32, s.c*b.Dy()*b.Dx())
	planes(src, img, s.c)
	for c := range s.c {
		resizeBilinear(dst[c*s.h*s.w:(c+1)*s.h*s.w], s.h, s.w, src[c*b.Dy()*b.Dx():(c+1)*b.Dy()*b.Dx()], b.Dy(), b.Dx())
	}
	return nil
}

func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, formatErr(path, "image", "decoding: %v", err)
	}
	if b := img.Bounds(); b.Empty() {
		return nil, formatErr(path, "image", "image is empty (%dx%d)", b.Dx(), b.Dy())
	}
	return img, nil
}

// planes writes img to dst as chans (1 or 3) row-major planes, channel
// first, in 0..255 (fractional for 16-bit images). Alpha is dropped, and
// color becomes gray by ITU-R 601-2 luma, L = 0.299R + 0.587G + 0.114B,
// rounded as PIL's convert("L") rounds 8-bit images.
func planes(dst []float32, img image.Image, chans int) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	set := func(x, y int, r, g, bl float32) {
		i := y*w + x
		if chans == 1 {
			dst[i] = r
			return
		}
		dst[i], dst[h*w+i], dst[2*h*w+i] = r, g, bl
	}
	gray8 := func(r, g, b uint8) float32 {
		return float32((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				v := float32(row[x])
				set(x, y, v, v, v)
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				p := row[4*x : 4*x+3]
				if chans == 1 {
					dst[y*w+x] = gray8(p[0], p[1], p[2])
				} else {
					set(x, y, float32(p[0]), float32(p[1]), float32(p[2]))
				}
			}
		}
	case *image.RGBA: // opaque PNGs decode to RGBA; translucent pixels need un-premultiplying
		for y := range h {
			row := m.Pix[y*m.Stride:]
			for x := range w {
				p := row[4*x : 4*x+4]
				r, g, bl := p[0], p[1], p[2]
				if p[3] != 255 {
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					r, g, bl = c.R, c.G, c.B
				}
				if chans == 1 {
					dst[y*w+x] = gray8(r, g, bl)
				} else {
					set(x, y, float32(r), float32(g), float32(bl))
				}
			}
		}
	case *image.YCbCr: // JPEG; Go's YCbCr conversion may differ from libjpeg's by 1
		for y := range h {
			for x := range w {
				yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				if chans == 1 {
					dst[y*w+x] = gray8(r, g, bl)
				} else {
					set(x, y, float32(r), float32(g), float32(bl))
				}
			}
		}
	default:
		wide := false
		switch img.ColorModel() {
		case color.Gray16Model, color.RGBA64Model, color.NRGBA64Model:
			wide = true
		}
		for y := range h {
			for x := range w {
				c := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				if !wide {
					r, g, bl := uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
					if chans == 1 {
						dst[y*w+x] = gray8(r, g, bl)
					} else {
						set(x, y, float32(r), float32(g), float32(bl))
					}
					continue
				}
				r, g, bl := float32(c.R)/257, float32(c.G)/257, float32(c.B)/257
				if chans == 1 {
					dst[y*w+x] = 0.299*r + 0.587*g + 0.114*bl
				} else {
					set(x, y, r, g, bl)
				}
			}
		}
	}
}

// resizeBilinear resizes the sh×sw plane src to the dh×dw plane dst by
// bilinear interpolation with half-pixel centres, as PyTorch's
// interpolate(mode="bilinear", align_corners=False) without antialiasing:
// output pixel y samples source row (y+0.5)·sh/dh − 0.5, clamped at 0.
func resizeBilinear(dst []float32, dh, dw int, src []float32, sh, sw int) {
	type tap struct {
		i0, i1 int
		l      float64 // weight of i1
	}
	taps := func(d, s int) []tap {
		t := make([]tap, d)
		scale := float64(s) / float64(d)
		for i := range t {
			p := max((float64(i)+0.5)*scale-0.5, 0)
			i0 := min(int(p), s-1)
			i1 := min(i0+1, s-1)
			t[i] = tap{i0, i1, p - float64(i0)}
		}
		return t
	}
	ys, xs := taps(dh, sh), taps(dw, sw)
	for y, ty := range ys {
		r0, r1 := src[ty.i0*sw:], src[ty.i1*sw:]
		for x, tx := range xs {
			top := float64(r0[tx.i0])*(1-tx.l) + float64(r0[tx.i1])*tx.l
			bot := float64(r1[tx.i0])*(1-tx.l) + float64(r1[tx.i1])*tx.l
			dst[y*dw+x] = float32(top*(1-ty.l) + bot*ty.l)
		}
	}
}

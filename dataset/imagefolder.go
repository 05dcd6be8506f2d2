package dataset

import (
	"fmt"
	"image"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// openImageFolder reads root/<class>/<image> with classes numbered in
// sorted name order (as torchvision's ImageFolder does). Images become
// RGB (3 channels), or grayscale (1) when every image is; all are resized
// to opt.Size, or the first image's size, by bilinear interpolation.
func openImageFolder(root string, opt Options) (*memSource, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var classes []string
	for _, e := range entries {
		if e.IsDir() {
			classes = append(classes, e.Name())
		}
	}
	sort.Strings(classes)
	if len(classes) == 0 {
		return nil, fmt.Errorf("dataset: %s has no class subfolders (and no .bin CIFAR batches)", root)
	}
	type item struct {
		path  string
		label int64
	}
	var items []item
	for ci, c := range classes {
		files, err := os.ReadDir(filepath.Join(root, c))
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		for _, f := range files {
			ext := strings.ToLower(filepath.Ext(f.Name()))
			if !f.IsDir() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg") {
				items = append(items, item{filepath.Join(root, c, f.Name()), int64(ci)})
			}
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("dataset: %s: no .png or .jpg images in its class folders", root)
	}
	imgs := make([]image.Image, len(items))
	gray := true
	for i, it := range items {
		f, err := os.Open(it.path)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		img, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("dataset: %s: %w", it.path, err)
		}
		imgs[i] = img
		switch img.(type) {
		case *image.Gray, *image.Gray16:
		default:
			gray = false
		}
	}
	h, w := opt.Size[0], opt.Size[1]
	if h <= 0 || w <= 0 {
		b := imgs[0].Bounds()
		h, w = b.Dy(), b.Dx()
	}
	c := 3
	if gray {
		c = 1
	}
	s := &memSource{n: len(items), shape: []int{c, h, w}, u8: make([]byte, len(items)*c*h*w)}
	for i, img := range imgs {
		resizeInto(s.u8[i*c*h*w:(i+1)*c*h*w], img, c, h, w)
		s.labels = append(s.labels, items[i].label)
	}
	return s, nil
}

// resizeInto writes img as c planes of h×w bytes, bilinearly resampled
// with pixel centres aligned (PyTorch's align_corners=False).
func resizeInto(dst []byte, img image.Image, c, h, w int) {
	b := img.Bounds()
	sh, sw := b.Dy(), b.Dx()
	at := func(x, y int) [3]float64 {
		r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
		return [3]float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}
	}
	for y := range h {
		fy := max(0, (float64(y)+0.5)*float64(sh)/float64(h)-0.5)
		y0 := min(int(fy), sh-1)
		y1 := min(y0+1, sh-1)
		wy := fy - float64(y0)
		for x := range w {
			fx := max(0, (float64(x)+0.5)*float64(sw)/float64(w)-0.5)
			x0 := min(int(fx), sw-1)
			x1 := min(x0+1, sw-1)
			wx := fx - float64(x0)
			p00, p01, p10, p11 := at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1)
			for ch := range c {
				v := (p00[ch]*(1-wx)+p01[ch]*wx)*(1-wy) + (p10[ch]*(1-wx)+p11[ch]*wx)*wy
				dst[(ch*h+y)*w+x] = byte(min(255, max(0, v+0.5)))
			}
		}
	}
}

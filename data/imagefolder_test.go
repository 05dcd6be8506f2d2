package data

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rgbImage returns a w×h opaque image whose pixels depend on seed.
func rgbImage(w, h, seed int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{byte(seed + 40*x), byte(seed + 60*y), byte(seed*3 + 17*x*y), 255})
		}
	}
	return img
}

// chw returns img's pixels as float32 [3 h w] planes in 0..255.
func chw(img *image.RGBA) []float32 {
	b := img.Bounds()
	n := b.Dx() * b.Dy()
	out := make([]float32, 3*n)
	for i := range n {
		for c := range 3 {
			out[c*n+i] = float32(img.Pix[4*i+c])
		}
	}
	return out
}

// TestResizeBilinear checks the resize against weights derived by hand from
// PyTorch's rule (source = (dst+0.5)·in/out − 0.5, clamped at 0): upsampling
// 2 to 4 samples at 0 (clamped), 0.25, 0.75 and 1.25 (the last tap clamped
// to 1), so [a b] becomes [a, ¾a+¼b, ¼a+¾b, b]; downsampling 4 to 2 samples
// at 0.5 and 2.5, averaging neighbours.
func TestResizeBilinear(t *testing.T) {
	up := func(a, b float32) []float32 { return []float32{a, 0.75*a + 0.25*b, 0.25*a + 0.75*b, b} }
	cases := []struct {
		name           string
		src            []float32
		sh, sw, dh, dw int
		want           []float32
	}{
		{"identity", []float32{1, 2, 3, 4, 5, 6}, 2, 3, 2, 3, []float32{1, 2, 3, 4, 5, 6}},
		{"up_rows", []float32{0, 8}, 1, 2, 1, 4, up(0, 8)},
		{"up_2x2_to_4x4", []float32{0, 8, 16, 32}, 2, 2, 4, 4, slices.Concat(
			up(0, 8), up(4, 14), up(12, 26), up(16, 32))},
		{"down_4x4_to_2x2", []float32{
			0, 1, 2, 3,
			4, 5, 6, 7,
			8, 9, 10, 11,
			12, 13, 14, 15}, 4, 4, 2, 2, []float32{2.5, 4.5, 10.5, 12.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make([]float32, c.dh*c.dw)
			resizeBilinear(got, c.dh, c.dw, c.src, c.sh, c.sw)
			for i := range got {
				if math.Abs(float64(got[i]-c.want[i])) > 1e-5 {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

// pillow asks PIL (and torch, for resizing) what an image folder should
// read: for each file, PIL's decoding converted to mode, as [C H W] planes,
// resized to size with torch's bilinear interpolate when it differs.
func pillow(t *testing.T, mode string, size [2]int, files []string) [][]float32 {
	t.Helper()
	out := python(t, `
import json, sys, numpy as np, torch
from PIL import Image
mode, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = []
for f in sys.argv[4:]:
    a = np.asarray(Image.open(f).convert(mode), dtype=np.float32)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    if a.shape[1:] != (h, w):
        a = torch.nn.functional.interpolate(torch.from_numpy(a.copy())[None], size=(h, w),
                                            mode="bilinear", align_corners=False)[0].numpy()
    res.append(a.reshape(-1).tolist())
print(json.dumps(res))
`, append([]string{mode, strconv.Itoa(size[0]), strconv.Itoa(size[1])}, files...)...)
	var planes [][]float32
	if err := json.Unmarshal(out, &planes); err != nil {
		t.Fatal(err)
	}
	return planes
}

func TestImageFolder(t *testing.T) {
	root := t.TempDir()
	a, b, c := rgbImage(4, 3, 1), rgbImage(4, 3, 2), rgbImage(2, 2, 3)
	translucent := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	for i := range translucent.Pix {
		translucent.Pix[i] = byte(20 * i)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, rgbImage(4, 3, 4), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	files := []string{ // in the order the folder lists them
		writeFile(t, root, "cat/a.png", encodePNG(t, a)),
		writeFile(t, root, "cat/b.PNG", encodePNG(t, b)),
		writeFile(t, root, "cat/more/e.png", encodePNG(t, translucent)),
		writeFile(t, root, "dog/c.png", encodePNG(t, c)), // 2×2: resized to 3×4
		writeFile(t, root, "dog/d.jpg", jpg.Bytes()),
	}
	writeFile(t, root, "dog/notes.txt", []byte("not an image"))
	writeFile(t, root, "README", []byte("not a class"))

	src, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Len() != 5 || !tensor.SameShape(src.SampleShape(), []int{3, 3, 4}) {
		t.Fatalf("%d samples of %v, want 5 of [3 3 4] (the first image's size)", src.Len(), src.SampleShape())
	}
	if cl, ok := src.(Classed); !ok || !slices.Equal(cl.Classes(), []string{"cat", "dog"}) {
		t.Errorf("classes: %v, want [cat dog]", src)
	}
	x, y := readAll(t, src)
	if !equalInts(y, []int64{0, 0, 0, 1, 1}) {
		t.Errorf("labels %v, want [0 0 0 1 1]", y)
	}
	sample := func(i int) []float32 { return x.F32[i*36 : (i+1)*36] }
	for i, img := range []*image.RGBA{a, b} {
		want := chw(img)
		for j := range want {
			want[j] /= 255
		}
		if !slices.Equal(sample(i), want) {
			t.Errorf("sample %d: %v, want %v", i, sample(i), want)
		}
	}

	t.Run("pillow", func(t *testing.T) {
		// PIL decodes, drops alpha, and torch resizes; JPEG decoders may
		// differ by a level or two (IJG's integer IDCT against Go's), so
		// allow 3/255 there and float rounding elsewhere.
		ref := pillow(t, "RGB", [2]int{3, 4}, files)
		for i, r := range ref {
			tol := 1e-6
			if strings.HasSuffix(files[i], ".jpg") {
				tol = 3.0 / 255
			}
			for j, v := range r {
				if d := math.Abs(float64(sample(i)[j]) - float64(v)/255); d > tol {
					t.Fatalf("%s element %d: %v, PIL/torch %v/255 (|d| = %.3g)", filepath.Base(files[i]), j, sample(i)[j], v, d)
				}
			}
		}
	})

	t.Run("gray_and_size", func(t *testing.T) {
		// Gray by ITU-R 601-2 luma as PIL's convert("L"), resized to 5×2.
		gray, err := Open(root, Options{Channels: 1, Size: [2]int{5, 2}, Raw: true})
		if err != nil {
			t.Fatal(err)
		}
		gx, _ := readAll(t, gray)
		if !tensor.SameShape(gx.Shape, []int{5, 1, 5, 2}) {
			t.Fatalf("shape %v, want [5 1 5 2]", gx.Shape)
		}
		ref := pillow(t, "L", [2]int{5, 2}, files)
		for i, r := range ref {
			tol := 1e-4 // resized in float64 here, float32 in torch
			if strings.HasSuffix(files[i], ".jpg") {
				tol = 3
			}
			for j, v := range r {
				if d := math.Abs(float64(gx.F32[i*10+j] - v)); d > tol {
					t.Fatalf("%s element %d: %v, PIL/torch %v", filepath.Base(files[i]), j, gx.F32[i*10+j], v)
				}
			}
		}
	})
}

// TestImageFolderGray infers one channel from a grayscale first image and
// widens it to three on request.
func TestImageFolderGray(t *testing.T) {
	root := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 2, 2))
	copy(g.Pix, []byte{0, 51, 102, 255})
	writeFile(t, root, "0/x.png", encodePNG(t, g))
	writeFile(t, root, "1/y.png", encodePNG(t, g))
	cases := []struct {
		name  string
		opts  Options
		shape []int
		want  []float32 // one sample
	}{
		{"inferred", Options{}, []int{1, 2, 2}, []float32{0, 0.2, 0.4, 1}},
		{"rgb", Options{Channels: 3}, []int{3, 2, 2}, []float32{0, 0.2, 0.4, 1, 0, 0.2, 0.4, 1, 0, 0.2, 0.4, 1}},
		{"normalised", Options{Mean: []float64{0.5}, Std: []float64{0.25}}, []int{1, 2, 2}, []float32{-2, -1.2, -0.4, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src, err := Open(root, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			x, y := readAll(t, src)
			if !tensor.SameShape(src.SampleShape(), c.shape) || !equalInts(y, []int64{0, 1}) {
				t.Fatalf("sample shape %v labels %v; want %v [0 1]", src.SampleShape(), y, c.shape)
			}
			for i, v := range slices.Concat(c.want, c.want) {
				if math.Abs(float64(x.F32[i]-v)) > 1e-6 {
					t.Fatalf("got %v, want %v twice", x.F32, c.want)
				}
			}
		})
	}
}

// TestImageFolderCorrupt finds a broken image when a batch reads it.
func TestImageFolderCorrupt(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "a/1.png", encodePNG(t, rgbImage(2, 2, 0)))
	bad := writeFile(t, root, "b/2.png", encodePNG(t, rgbImage(2, 2, 0))[:30])
	src, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Batch(0, 1); err != nil {
		t.Errorf("the good image: %v", err)
	}
	_, _, err = src.Batch(0, 2)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Path != bad {
		t.Errorf("error %v, want a *FormatError naming %s", err, bad)
	}
}

package nern

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"

	"github.com/graft-ml/graft/tensor"
)

// Permutation kinds (SEEDS §4, NeRN §3.3): which kernel each embedding
// position predicts. PermNone keeps storage order (the ablation).
const (
	PermCrossfilter = "crossfilter"
	PermInfilter    = "infilter"
	PermNone        = "none"
)

// Permute returns, for each represented layer, the chain: chain[i] is the
// kernel (index f·C + c in storage order) that position i predicts.
//
//   - crossfilter: a greedy nearest-neighbour chain over all the layer's
//     kernels by cosine similarity, from kernel 0;
//   - infilter: the chain of the kernels inside each filter, and the chain
//     of the filters (compared flattened, in their original channel
//     order); position (i, j) is the j-th kernel of the i-th filter;
//   - none: the identity.
//
// Ties go to the lowest index, and a zero kernel has similarity 0 with
// every kernel. Similarities are float64. Building a chain costs O(n²)
// in a layer's n kernels (16M dot products for a 64×64 layer).
func Permute(layers []*Layer, kind string) ([][]int, error) {
	var out [][]int
	for _, l := range represented(layers) {
		f, c := l.Shape[0], l.Shape[1]
		size := len(l.Weight.F32) / (f * c)
		switch kind {
		case PermNone:
			p := make([]int, f*c)
			for i := range p {
				p[i] = i
			}
			out = append(out, p)
		case PermCrossfilter:
			out = append(out, chain(l.Weight.F32, f*c, size))
		case PermInfilter:
			filters := chain(l.Weight.F32, f, c*size)
			p := make([]int, 0, f*c)
			for _, fi := range filters {
				inner := chain(l.Weight.F32[fi*c*size:(fi+1)*c*size], c, size)
				for _, ci := range inner {
					p = append(p, fi*c+ci)
				}
			}
			out = append(out, p)
		default:
			return nil, fmt.Errorf("nern: unknown permutation %q; want %s, %s or %s", kind, PermCrossfilter, PermInfilter, PermNone)
		}
	}
	return out, nil
}

// chain is the greedy nearest-neighbour chain by cosine similarity over
// the n rows (of width w) of x, from row 0.
func chain(x []float32, n, w int) []int {
	unit := make([]float64, n*w)
	for i := 0; i < n; i++ {
		var ss float64
		for _, v := range x[i*w : (i+1)*w] {
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			continue
		}
		norm := math.Sqrt(ss)
		for j, v := range x[i*w : (i+1)*w] {
			unit[i*w+j] = float64(v) / norm
		}
	}
	used := make([]bool, n)
	order := make([]int, 0, n)
	cur := 0
	used[0] = true
	order = append(order, 0)
	for len(order) < n {
		best, bestSim := -1, math.Inf(-1)
		u := unit[cur*w : (cur+1)*w]
		for j := 0; j < n; j++ {
			if used[j] {
				continue
			}
			var s float64
			for k, v := range unit[j*w : (j+1)*w] {
				s += u[k] * v
			}
			if s > bestSim {
				best, bestSim = j, s
			}
		}
		used[best] = true
		order = append(order, best)
		cur = best
	}
	return order
}

// ModelHash returns the hex SHA-256 of the file at path.
func ModelHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("nern: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("nern: hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// PermCachePath is where CachedPermute keeps the permutation of kind for
// the model at modelPath with SHA-256 hash: beside the model,
// MODEL.nern-perm-KIND-<first 8 hex digits>.npz.
func PermCachePath(modelPath, kind, hash string) string {
	return modelPath + ".nern-perm-" + kind + "-" + hash[:8] + ".npz"
}

// CachedPermute is Permute with a cache at PermCachePath: it reads the
// cached chains when the file exists and matches the layers, and writes
// it (atomically) after computing them. A cache that cannot be written
// (a read-only folder) is not an error; one that cannot be read or does
// not match is recomputed and replaced.
func CachedPermute(layers []*Layer, kind, modelPath, hash string) ([][]int, error) {
	if kind == PermNone || modelPath == "" {
		return Permute(layers, kind)
	}
	path := PermCachePath(modelPath, kind, hash)
	if arrs, err := tensor.LoadNPZ(path); err == nil {
		if perms, ok := permsFrom(arrs, layers); ok {
			return perms, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		// An unreadable cache is recomputed below.
		_ = err
	}
	perms, err := Permute(layers, kind)
	if err != nil {
		return nil, err
	}
	arrs := map[string]*tensor.Dense{}
	for i, p := range perms {
		arrs["layer"+strconv.Itoa(i)] = intsTensor(p)
	}
	_ = tensor.SaveNPZ(path, arrs) // a cache: failing to write it costs only time
	return perms, nil
}

func permsFrom(arrs map[string]*tensor.Dense, layers []*Layer) ([][]int, bool) {
	rep := represented(layers)
	if len(arrs) != len(rep) {
		return nil, false
	}
	perms := make([][]int, len(rep))
	for i, l := range rep {
		d := arrs["layer"+strconv.Itoa(i)]
		if d == nil || d.DType != tensor.Int64 || d.Len() != l.Kernels() {
			return nil, false
		}
		seen := make([]bool, l.Kernels())
		perms[i] = make([]int, l.Kernels())
		for j, v := range d.I64 {
			if v < 0 || int(v) >= len(seen) || seen[v] {
				return nil, false
			}
			seen[v] = true
			perms[i][j] = int(v)
		}
	}
	return perms, true
}

func intsTensor(p []int) *tensor.Dense {
	d := tensor.New(tensor.Int64, len(p))
	for i, v := range p {
		d.I64[i] = int64(v)
	}
	return d
}

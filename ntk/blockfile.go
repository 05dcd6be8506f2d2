package ntk

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

// The block file
//
// A block is written as an uncompressed .npz (a zip of .npy arrays, as
// numpy.savez writes) holding:
//
//	header.json             what the block is (blockHeader below)
//	tile_T.npy              tile T's kernel, float64, (rows, cols) or (rows, cols, K, K)
//	tile_T_param_P.npy      with components: parameter P's kernel over tile T
//
// header.json names each tile's rows and columns (sample ranges [lo, hi))
// and its array; the kernel's other elements are transposes. In Python:
//
//	z = numpy.load("block.npz"); h = json.loads(z["header.json"])
//	for t in h["tiles"]: K[slice(*t["rows"]), slice(*t["cols"])] = z[t["array"]]
//
// (numpy returns the bytes of a member that is not an array.)

// blockFormat and blockVersion identify a block file.
const (
	blockFormat  = "graft-ntk-block"
	blockVersion = 1
)

type blockHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Shard   int    `json:"shard"`
	Shards  int    `json:"shards"`
	Samples int    `json:"samples"`
	Chunk   int    `json:"chunk"`
	Shape   []int  `json:"kernel_shape"`
	// Symmetric says that elements no tile holds are transposes:
	// Θ[m, n] = Θ[n, m] (Θ[m, n, b, a] = Θ[n, m, a, b] for the full kernel).
	Symmetric  bool              `json:"symmetric"`
	Components []string          `json:"components,omitempty"`
	Identity   map[string]string `json:"identity"`
	Tiles      []tileHeader      `json:"tiles"`
}

type tileHeader struct {
	Array string `json:"array"`
	Rows  [2]int `json:"rows"`
	Cols  [2]int `json:"cols"`
}

func componentArray(tile string, p int) string { return fmt.Sprintf("%s_param_%d", tile, p) }

// WriteBlock writes b to path (an .npz, see above), atomically.
func WriteBlock(path string, b *Block) error {
	h := blockHeader{Format: blockFormat, Version: blockVersion, Shard: b.Shard.Index, Shards: b.Shard.Count,
		Samples: b.Samples, Chunk: b.Chunk, Shape: b.Shape, Symmetric: true, Components: b.Components, Identity: b.Identity}
	arrays := map[string]*tensor.Dense{}
	var order []string
	for i, t := range b.Tiles {
		name := fmt.Sprintf("tile_%d", i)
		h.Tiles = append(h.Tiles, tileHeader{Array: name, Rows: [2]int{t.Rows.Lo, t.Rows.Hi}, Cols: [2]int{t.Cols.Lo, t.Cols.Hi}})
		arrays[name] = t.Kernel
		order = append(order, name)
		for p, param := range b.Components {
			d := t.Components[param]
			if d == nil {
				return fmt.Errorf("ntk: block tile %d has no component %s", i, param)
			}
			c := componentArray(name, p)
			arrays[c] = d
			order = append(order, c)
		}
	}
	hdr, err := json.MarshalIndent(h, "", " ")
	if err != nil {
		return err
	}
	return tensor.WriteFileAtomic(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: "header.json", Method: zip.Store})
		if err != nil {
			return err
		}
		if _, err := fw.Write(append(hdr, '\n')); err != nil {
			return err
		}
		for _, name := range order {
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
			if err != nil {
				return err
			}
			if err := tensor.WriteNPY(fw, arrays[name]); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

// ReadBlock reads a block file written by WriteBlock.
func ReadBlock(path string) (*Block, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a block file: %w", path, err)
	}
	defer zr.Close()
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
	}
	read := func(name string) ([]byte, error) {
		f := files[name]
		if f == nil {
			return nil, fmt.Errorf("%s: no %s in the archive", path, name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, 1<<20))
	}
	raw, err := read("header.json")
	if err != nil {
		return nil, fmt.Errorf("%s: not a graft ntk block file: %w", path, err)
	}
	var h blockHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("%s: header.json: %w", path, err)
	}
	if h.Format != blockFormat || h.Version != blockVersion {
		return nil, fmt.Errorf("%s: header.json says format %q version %d; want %q version %d", path, h.Format, h.Version, blockFormat, blockVersion)
	}
	okShape := (len(h.Shape) == 2 || len(h.Shape) == 4 && h.Shape[2] == h.Shape[3] && h.Shape[2] > 0) && h.Shape[0] == h.Samples && h.Shape[1] == h.Samples
	if !h.Symmetric || h.Samples < 1 || h.Chunk < 1 || !okShape {
		return nil, fmt.Errorf("%s: header.json: a symmetric kernel of %d samples cannot have shape %v", path, h.Samples, h.Shape)
	}
	b := &Block{Shard: Shard{h.Shard, h.Shards}, Samples: h.Samples, Chunk: h.Chunk, Shape: h.Shape, Components: h.Components, Identity: h.Identity}
	if err := b.Shard.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	array := func(name string) (*tensor.Dense, error) {
		f := files[name+".npy"]
		if f == nil {
			return nil, fmt.Errorf("%s: header.json names array %s, which the archive lacks", path, name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		defer rc.Close()
		d, err := tensor.ReadNPY(rc)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		return d, nil
	}
	for _, th := range h.Tiles {
		if strings.ContainsAny(th.Array, "/\\") {
			return nil, fmt.Errorf("%s: header.json: array name %q", path, th.Array)
		}
		t := Tile{Rows: Range{th.Rows[0], th.Rows[1]}, Cols: Range{th.Cols[0], th.Cols[1]}}
		if t.Kernel, err = array(th.Array); err != nil {
			return nil, err
		}
		if len(h.Components) > 0 {
			t.Components = map[string]*tensor.Dense{}
			for p, param := range h.Components {
				if t.Components[param], err = array(componentArray(th.Array, p)); err != nil {
					return nil, err
				}
			}
		}
		if err := checkTile(t, b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		b.Tiles = append(b.Tiles, t)
	}
	return b, nil
}

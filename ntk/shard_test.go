package ntk

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/tensor"
)

// shardAll computes every shard of the kernel opt describes, writes each
// block to a file and reads it back, as an array job's tasks and its merge
// step would, and merges them.
func shardAll(t *testing.T, m *onnx.Model, x *tensor.Dense, opt Options, count int) (*Merged, []*Block) {
	t.Helper()
	dir := t.TempDir()
	var blocks []*Block
	var paths []string
	for i := range count {
		o := opt
		o.Shard = Shard{i, count}
		r, err := Compute(m, x, o)
		if err != nil {
			t.Fatalf("shard %d/%d: %v", i, count, err)
		}
		if r.Kernel != nil {
			t.Fatal("a shard returned the whole kernel")
		}
		b, err := r.Block(map[string]string{"test": t.Name()})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("block-%d.npz", i))
		if err := WriteBlock(path, b); err != nil {
			t.Fatal(err)
		}
		back, err := ReadBlock(path)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, back)
		paths = append(paths, path)
	}
	merged, err := MergeBlocks(blocks, paths)
	if err != nil {
		t.Fatal(err)
	}
	return merged, blocks
}

// sameBits reports the first element where two kernels differ in any bit.
func sameBits(a, b *tensor.Dense) error {
	if !tensor.SameShape(a.Shape, b.Shape) {
		return fmt.Errorf("shapes %v and %v", a.Shape, b.Shape)
	}
	for i := range a.F64 {
		if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
			return fmt.Errorf("element %d: %v vs %v", i, a.F64[i], b.F64[i])
		}
	}
	return nil
}

// TestShardsBitIdentical computes the kernels of the three functorch
// fixtures in shards, through block files, and checks that the merged
// kernel (and its components) is bit for bit the kernel of one run with
// the tiling's chunk, across modes, paths, chunks and shard counts,
// including more shards than the chunk gives pairs (the chunk shrinks).
func TestShardsBitIdentical(t *testing.T) {
	cases := []struct {
		fixture string
		opt     Options
		shards  []int
		jac     bool // every parameter through per-sample backward passes
	}{
		{"mlp", Options{Mode: Mode{Kind: Trace}, Chunk: 2}, []int{1, 2, 4, 6}, false},
		{"mlp", Options{Mode: Mode{Kind: Full}, Chunk: 4}, []int{3}, false},
		{"cnn", Options{Mode: Mode{Kind: Trace}, Components: true}, []int{4}, false},
		{"cnn", Options{Mode: Mode{Kind: Output, K: 1}, Chunk: 3}, []int{2, 3}, false},
		{"rescnn", Options{Mode: Mode{Kind: Full}, Chunk: 2, Components: true}, []int{4, 5}, false},
		{"rescnn", Options{Mode: Mode{Kind: Trace}, Chunk: 2}, []int{4, 21}, false},
		{"cnn", Options{Mode: Mode{Kind: Trace}, Chunk: 2}, []int{4}, true},
	}
	for _, c := range cases {
		for _, count := range c.shards {
			mode := []string{Full: "full", Trace: "trace", Output: "output"}[c.opt.Mode.Kind]
			name := fmt.Sprintf("%s/%s/chunk%d/components=%v/jacobian=%v/shards%d", c.fixture, mode, c.opt.Chunk, c.opt.Components, c.jac, count)
			t.Run(name, func(t *testing.T) {
				forceJacobian = c.jac
				defer func() { forceJacobian = false }()
				m, x, _ := loadNTKFixture(t, c.fixture)
				merged, blocks := shardAll(t, m, x, c.opt, count)
				one := c.opt
				one.Chunk = blocks[0].Chunk
				whole, err := Compute(m, x, one)
				if err != nil {
					t.Fatal(err)
				}
				if c.opt.Chunk > 0 && blocks[0].Chunk > c.opt.Chunk {
					t.Errorf("tiling chunk %d above the asked %d", blocks[0].Chunk, c.opt.Chunk)
				}
				if err := sameBits(merged.Kernel, whole.Kernel); err != nil {
					t.Errorf("merged kernel is not the one run's: %v", err)
				}
				for p, d := range whole.Components {
					if err := sameBits(merged.Components[p], d); err != nil {
						t.Errorf("component %s: %v", p, err)
					}
				}
				if c.opt.Components && len(merged.Components) != len(whole.Components) {
					t.Errorf("%d merged components, want %d", len(merged.Components), len(whole.Components))
				}
			})
		}
	}
}

// TestShardsDefaultChunk squeezes the memory budget so that the chunk a
// whole run chooses already gives enough pairs: then shards merged with
// no --chunk at all are the plain run's kernel, bit for bit.
func TestShardsDefaultChunk(t *testing.T) {
	m, x, _ := loadNTKFixture(t, "rescnn")
	opt := Options{Mode: Mode{Kind: Trace}, MaxBytes: 100 << 10}
	whole, err := Compute(m, x, opt)
	if err != nil {
		t.Fatal(err)
	}
	k := (x.Shape[0] + whole.Chunk - 1) / whole.Chunk
	if k*(k+1)/2 < 4 {
		t.Fatalf("budget left chunk %d: %d pairs, too few to test 4 shards", whole.Chunk, k*(k+1)/2)
	}
	merged, blocks := shardAll(t, m, x, opt, 4)
	if blocks[0].Chunk != whole.Chunk {
		t.Errorf("tiling chunk %d, the whole run's %d", blocks[0].Chunk, whole.Chunk)
	}
	if err := sameBits(merged.Kernel, whole.Kernel); err != nil {
		t.Errorf("merged kernel is not the plain run's: %v", err)
	}
}

// TestShardSpans checks the tiling on every small case: the shards' spans
// hold each chunk pair on or above the diagonal exactly once, none below,
// and the shards' pair counts differ by at most one.
func TestShardSpans(t *testing.T) {
	for n := 1; n <= 13; n++ {
		for chunk := 1; chunk <= n; chunk++ {
			k := (n + chunk - 1) / chunk
			pairs := k * (k + 1) / 2
			for count := 1; count <= pairs; count++ {
				seen := map[[2]int]int{}
				least, most := pairs, 0
				for s := range count {
					got := 0
					for _, sp := range shardSpans(n, chunk, Shard{s, count}) {
						if sp.rows.Hi-sp.rows.Lo > chunk || sp.rows.Lo%chunk != 0 || sp.cols.Lo%chunk != 0 {
							t.Fatalf("n %d chunk %d shard %d/%d: span %v × %v is not chunk-aligned", n, chunk, s, count, sp.rows, sp.cols)
						}
						i := sp.rows.Lo / chunk
						for c0 := sp.cols.Lo; c0 < sp.cols.Hi; c0 += chunk {
							j := c0 / chunk
							if j < i {
								t.Fatalf("n %d chunk %d shard %d/%d: pair (%d, %d) below the diagonal", n, chunk, s, count, i, j)
							}
							seen[[2]int{i, j}]++
							got++
						}
					}
					least, most = min(least, got), max(most, got)
				}
				if len(seen) != pairs || most-least > 1 {
					t.Fatalf("n %d chunk %d, %d shards: %d of %d pairs, %d to %d per shard", n, chunk, count, len(seen), pairs, least, most)
				}
				for p, times := range seen {
					if times != 1 {
						t.Fatalf("n %d chunk %d, %d shards: pair %v computed %d times", n, chunk, count, p, times)
					}
				}
			}
		}
	}
	if c := tilingChunk(6, 6, 4); c != 2 {
		t.Errorf("tilingChunk(6, 6, 4) = %d; want 2 (3 chunks, 6 pairs)", c)
	}
	if c := tilingChunk(3, 3, 7); c != 0 {
		t.Errorf("tilingChunk(3, 3, 7) = %d; want 0 (3 samples make 6 pairs)", c)
	}
}

// TestMergeBlocksErrors breaks a good set of blocks in each way the merge
// must refuse, and checks that the error names what is wrong.
func TestMergeBlocksErrors(t *testing.T) {
	m, x, _ := loadNTKFixture(t, "mlp")
	_, blocks := shardAll(t, m, x, Options{Mode: Mode{Kind: Trace}, Chunk: 2}, 4)
	names := []string{"b0.npz", "b1.npz", "b2.npz", "b3.npz"}
	clone := func() []*Block {
		out := make([]*Block, len(blocks))
		for i, b := range blocks {
			c := *b
			c.Tiles = append([]Tile(nil), b.Tiles...)
			c.Identity = map[string]string{}
			for k, v := range b.Identity {
				c.Identity[k] = v
			}
			out[i] = &c
		}
		return out
	}
	cases := []struct {
		name  string
		edit  func(bs []*Block) ([]*Block, []string)
		wants []string
	}{
		{"missing", func(bs []*Block) ([]*Block, []string) {
			return []*Block{bs[0], bs[2]}, []string{names[0], names[2]}
		}, []string{"shard(s) 1, 3 of 4 missing"}},
		{"duplicate", func(bs []*Block) ([]*Block, []string) {
			return append(bs, bs[2]), append(append([]string{}, names...), "copy.npz")
		}, []string{"shard 2/4 is in both b2.npz and copy.npz"}},
		{"other job", func(bs []*Block) ([]*Block, []string) {
			bs[3].Identity["test"] = "another model"
			return bs, names
		}, []string{"b0.npz and b3.npz", "another model"}},
		{"other chunk", func(bs []*Block) ([]*Block, []string) {
			bs[1].Chunk = 3
			return bs, names
		}, []string{"b1.npz", "chunks of 2 samples vs 3", "--chunk"}},
		{"other count", func(bs []*Block) ([]*Block, []string) {
			bs[1].Shard.Count = 5
			return bs, names
		}, []string{"4 shards vs 5"}},
		{"overlap", func(bs []*Block) ([]*Block, []string) {
			t := bs[0].Tiles[0]
			bs[1].Tiles = append(bs[1].Tiles, t)
			return bs, names
		}, []string{"overlaps", "b0.npz", "b1.npz", "rows 0:2"}},
		{"gap", func(bs []*Block) ([]*Block, []string) {
			bs[3].Tiles = bs[3].Tiles[:0]
			return bs, names
		}, []string{"in no block"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bs, ns := c.edit(clone())
			_, err := MergeBlocks(bs, ns)
			if err == nil {
				t.Fatal("merge succeeded")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := Compute(m, x, Options{Shard: Shard{0, 2}, Rows: Range{0, 2}}); err == nil || !strings.Contains(err.Error(), "rows and cols") {
		t.Errorf("shard with rows: %v", err)
	}
	if _, err := Compute(m, x, Options{Shard: Shard{0, 100}}); err == nil || !strings.Contains(err.Error(), "21 sample pairs") {
		t.Errorf("100 shards of 6 samples: %v", err)
	}
}

func TestParseShard(t *testing.T) {
	for s, want := range map[string]Shard{"0/4": {0, 4}, "3/4": {3, 4}, " 1 / 2 ": {1, 2}, "0/1": {0, 1}} {
		got, err := ParseShard(s)
		if err != nil || got != want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"4/4", "-1/4", "1", "a/b", "1/0", "1/4/5"} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q) gave no error", s)
		}
	}
}

func TestShardFromEnv(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		count int
		want  Shard
		err   string
	}{
		{"slurm", map[string]string{EnvSlurmID: "2", EnvSlurmCount: "4"}, 0, Shard{2, 4}, ""},
		{"slurm with --shards", map[string]string{EnvSlurmID: "2", EnvSlurmCount: "4"}, 4, Shard{2, 4}, ""},
		{"slurm from 1", map[string]string{EnvSlurmID: "4", EnvSlurmCount: "4", EnvSlurmMin: "1"}, 0, Shard{3, 4}, ""},
		{"slurm with a step", map[string]string{EnvSlurmID: "6", EnvSlurmCount: "4", EnvSlurmMin: "0", EnvSlurmStep: "2"}, 0, Shard{3, 4}, ""},
		{"slurm, count given", map[string]string{EnvSlurmID: "1"}, 3, Shard{1, 3}, ""},
		{"kubernetes", map[string]string{EnvK8sIndex: "3"}, 4, Shard{3, 4}, ""},
		{"slurm count disagrees", map[string]string{EnvSlurmID: "2", EnvSlurmCount: "8"}, 4, Shard{}, "4 shards asked for, but the Slurm array has $SLURM_ARRAY_TASK_COUNT=8"},
		{"slurm no count", map[string]string{EnvSlurmID: "2"}, 0, Shard{}, "SLURM_ARRAY_TASK_COUNT is not set"},
		{"slurm index past count", map[string]string{EnvSlurmID: "4", EnvSlurmCount: "4"}, 0, Shard{}, "shard index 4 (from $SLURM_ARRAY_TASK_ID=4) is not below the 4 shards"},
		{"slurm off the step", map[string]string{EnvSlurmID: "3", EnvSlurmCount: "4", EnvSlurmStep: "2"}, 0, Shard{}, "not on the array's range"},
		{"slurm not a number", map[string]string{EnvSlurmID: "x"}, 4, Shard{}, `$SLURM_ARRAY_TASK_ID="x" is not a whole number`},
		{"kubernetes no count", map[string]string{EnvK8sIndex: "3"}, 0, Shard{}, "give the number of shards"},
		{"kubernetes past count", map[string]string{EnvK8sIndex: "4"}, 4, Shard{}, "shard index 4 (from $JOB_COMPLETION_INDEX=4)"},
		{"both", map[string]string{EnvSlurmID: "1", EnvK8sIndex: "2"}, 4, Shard{}, "both $SLURM_ARRAY_TASK_ID (1) and $JOB_COMPLETION_INDEX (2)"},
		{"neither", map[string]string{}, 4, Shard{}, "neither $SLURM_ARRAY_TASK_ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, from, err := ShardFromEnv(c.count, func(k string) string { return c.env[k] })
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v; want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want || from == "" {
				t.Fatalf("got %v from %q, %v; want %v", got, from, err, c.want)
			}
		})
	}
}

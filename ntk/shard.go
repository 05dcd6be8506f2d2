package ntk

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/tensor"
)

// Shard is part Index (from 0) of Count of a kernel computed by an array
// job, one part per task.
//
// # The tiling
//
// The N samples are cut into K chunks of Chunk samples (the last may be
// shorter), the unit whose gradients are held at once. The kernel is
// symmetric, so only the K(K+1)/2 chunk pairs (i, j) with i ≤ j are
// computed, and the rest are their transposes: the whole-kernel
// computation does exactly this too. The pairs, in row-major order, are
// cut into Count runs of ⌊P/Count⌋ or ⌈P/Count⌉ pairs, and shard I
// computes run I: a few tiles, each the rows of one chunk against the
// columns of consecutive chunks. Every pair is computed with the same
// factors and the same contraction, in the same order of terms, as in
// one run with the same Chunk, so the assembled kernel is bit for bit
// that run's.
//
// Chunk is the one a whole-kernel run would choose (Options.Chunk, or
// from Options.MaxBytes), made smaller when it leaves fewer than Count
// pairs; Result.Chunk and Block.Chunk say which was used, and a run with
// that Chunk reproduces the assembled kernel exactly.
type Shard struct{ Index, Count int }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

func (s Shard) check() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("ntk: shard %d/%d: want 0 <= index < count", s.Index, s.Count)
	}
	return nil
}

// ParseShard reads "I/N": shard I (from 0) of N.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want I/N, shard I (from 0) of N", s)
	}
	var sh Shard
	var err1, err2 error
	sh.Index, err1 = strconv.Atoi(strings.TrimSpace(i))
	sh.Count, err2 = strconv.Atoi(strings.TrimSpace(n))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("shard %q: want I/N with whole numbers", s)
	}
	if sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
		return Shard{}, fmt.Errorf("shard %q: want 0 <= I < N", s)
	}
	return sh, nil
}

// The environment variables ShardFromEnv reads.
const (
	EnvSlurmID    = "SLURM_ARRAY_TASK_ID"    // this task's array index
	EnvSlurmCount = "SLURM_ARRAY_TASK_COUNT" // the number of tasks in the array
	EnvSlurmMin   = "SLURM_ARRAY_TASK_MIN"   // the first index (--array=1-4 starts at 1)
	EnvSlurmStep  = "SLURM_ARRAY_TASK_STEP"  // the index step (--array=0-15:4)
	EnvK8sIndex   = "JOB_COMPLETION_INDEX"   // a Kubernetes Indexed Job pod's index
)

// ShardFromEnv finds this task's shard in an array job's environment, read
// through getenv (os.Getenv): a Slurm array task's index,
// ($SLURM_ARRAY_TASK_ID − $SLURM_ARRAY_TASK_MIN) / $SLURM_ARRAY_TASK_STEP,
// so that --array=1-4 and --array=0-6:2 number their shards from 0, or a
// Kubernetes Indexed Job's $JOB_COMPLETION_INDEX. The count is count if
// positive, else $SLURM_ARRAY_TASK_COUNT; Kubernetes sets no count, so
// there it must be given. Values that disagree (a count other than
// Slurm's, both schedulers' indices, an index past the count) are errors
// that name the variables. It also returns where the shard came from, for
// messages.
func ShardFromEnv(count int, getenv func(string) string) (Shard, string, error) {
	slurm, k8s := getenv(EnvSlurmID), getenv(EnvK8sIndex)
	var sh Shard
	var from string
	switch {
	case slurm != "" && k8s != "":
		return Shard{}, "", fmt.Errorf("both $%s (%s) and $%s (%s) are set: give the shard as I/N", EnvSlurmID, slurm, EnvK8sIndex, k8s)
	case slurm != "":
		id, err := envInt(getenv, EnvSlurmID, -1)
		if err != nil {
			return Shard{}, "", err
		}
		lo, err := envInt(getenv, EnvSlurmMin, 0)
		if err != nil {
			return Shard{}, "", err
		}
		step, err := envInt(getenv, EnvSlurmStep, 1)
		if err != nil {
			return Shard{}, "", err
		}
		if step < 1 || id < lo || (id-lo)%step != 0 {
			return Shard{}, "", fmt.Errorf("$%s=%d is not on the array's range (from $%s=%d in steps of $%s=%d): use a contiguous --array=0-N", EnvSlurmID, id, EnvSlurmMin, lo, EnvSlurmStep, step)
		}
		sh.Index = (id - lo) / step
		from = fmt.Sprintf("$%s=%d", EnvSlurmID, id)
		n, err := envInt(getenv, EnvSlurmCount, 0)
		if err != nil {
			return Shard{}, "", err
		}
		switch {
		case count > 0 && n > 0 && n != count:
			return Shard{}, "", fmt.Errorf("%d shards asked for, but the Slurm array has $%s=%d tasks", count, EnvSlurmCount, n)
		case count > 0:
			sh.Count = count
		case n > 0:
			sh.Count = n
		default:
			return Shard{}, "", fmt.Errorf("$%s is not set: give the number of shards", EnvSlurmCount)
		}
	case k8s != "":
		idx, err := envInt(getenv, EnvK8sIndex, -1)
		if err != nil {
			return Shard{}, "", err
		}
		if count < 1 {
			return Shard{}, "", fmt.Errorf("$%s=%d gives the index; give the number of shards (the Job's completions) too", EnvK8sIndex, idx)
		}
		sh = Shard{idx, count}
		from = fmt.Sprintf("$%s=%d", EnvK8sIndex, idx)
	default:
		return Shard{}, "", fmt.Errorf("no shard index: neither $%s (a Slurm array task) nor $%s (a Kubernetes Indexed Job) is set", EnvSlurmID, EnvK8sIndex)
	}
	if sh.Index < 0 || sh.Index >= sh.Count {
		return Shard{}, "", fmt.Errorf("shard index %d (from %s) is not below the %d shards", sh.Index, from, sh.Count)
	}
	return sh, from, nil
}

// envInt reads a whole number from the environment, def when unset.
func envInt(getenv func(string) string, name string, def int) (int, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("$%s=%q is not a whole number", name, s)
	}
	return v, nil
}

// Tile is one block of a kernel: Θ[Rows, Cols], float64, (R, C) or
// (R, C, K, K) as the kernel is, and with Components each parameter
// tensor's own block.
type Tile struct {
	Rows, Cols Range
	Kernel     *tensor.Dense
	Components map[string]*tensor.Dense
}

// tilingChunk returns the largest chunk, at most chunk, that cuts n
// samples into enough chunk pairs on and above the diagonal for count
// shards, or 0 if even single samples are too few.
func tilingChunk(n, chunk, count int) int {
	for c := min(chunk, n); c >= 1; c-- {
		k := (n + c - 1) / c
		if k*(k+1)/2 >= count {
			return c
		}
	}
	return 0
}

// shardSpans returns shard s's run of the chunk pairs (i ≤ j, row-major)
// as spans, one per chunk row it touches.
func shardSpans(n, chunk int, s Shard) []span {
	k := (n + chunk - 1) / chunk
	pairs := int64(k) * int64(k+1) / 2
	lo := pairs * int64(s.Index) / int64(s.Count)
	hi := pairs * int64(s.Index+1) / int64(s.Count)
	var spans []span
	var off int64 // index of pair (i, i)
	for i := 0; i < k && off < hi; i++ {
		row := int64(k - i)
		a, b := max(lo, off), min(hi, off+row)
		if a < b {
			j0, j1 := i+int(a-off), i+int(b-off)
			spans = append(spans, span{
				rows: Range{i * chunk, min((i+1)*chunk, n)},
				cols: Range{j0 * chunk, min(j1*chunk, n)},
			})
		}
		off += row
	}
	return spans
}

// computeShard computes shard sh's tiles of the whole kernel.
func (p *plan) computeShard(x *tensor.Dense, sh Shard) (*Result, error) {
	n := x.Shape[0]
	chunk, group, err := p.sizing(x, n, n, true)
	if err != nil {
		return nil, err
	}
	if c := tilingChunk(n, chunk, sh.Count); c != chunk {
		if c == 0 {
			return nil, fmt.Errorf("ntk: %d shards: the %d samples make only %d sample pairs", sh.Count, n, n*(n+1)/2)
		}
		p.opt.Chunk = c
		if chunk, group, err = p.sizing(x, n, n, true); err != nil {
			return nil, err
		}
	}
	res := &Result{Params: p.params, Paths: p.paths, Outputs: p.k, Samples: n, Chunk: chunk, OutputGroup: group, Shard: sh}
	spans := shardSpans(n, chunk, sh)
	sinks := make([]sink, len(spans))
	for i, sp := range spans {
		sinks[i] = p.newSink(sp.rows.Lo, sp.cols.Lo, sp.rows.Hi-sp.rows.Lo, sp.cols.Hi-sp.cols.Lo)
	}
	if err := p.computeSpans(x, spans, sinks, chunk, group, res); err != nil {
		return nil, err
	}
	for i, sp := range spans {
		res.Tiles = append(res.Tiles, Tile{Rows: sp.rows, Cols: sp.cols, Kernel: sinks[i].kernel, Components: sinks[i].comps})
	}
	return res, nil
}

// Block is what one shard of an array job writes (WriteBlock) and the
// merge step reads (ReadBlock, MergeBlocks): its tiles of the kernel and
// what makes the blocks of one job fit together.
type Block struct {
	Shard   Shard
	Samples int   // N
	Chunk   int   // the tiling's chunk (see Shard)
	Shape   []int // the whole kernel's: (N, N) or (N, N, K, K)
	// Components names the parameter tensors whose kernels the tiles
	// also carry, in order (empty without Options.Components).
	Components []string
	// Identity says what the kernel is of (the model's and the samples'
	// digests, the mode, the parameters...), as the caller describes it:
	// blocks merge only when their identities are equal.
	Identity map[string]string
	Tiles    []Tile
}

// Block returns the block of a sharded result, with the caller's identity
// of the computation (see Block.Identity).
func (r *Result) Block(identity map[string]string) (*Block, error) {
	if r.Shard == (Shard{}) {
		return nil, errors.New("ntk: the result is not a shard")
	}
	b := &Block{Shard: r.Shard, Samples: r.Samples, Chunk: r.Chunk, Identity: identity, Tiles: r.Tiles}
	b.Shape = []int{r.Samples, r.Samples}
	if len(r.Tiles) > 0 && r.Tiles[0].Kernel.Rank() == 4 {
		b.Shape = append(b.Shape, r.Outputs, r.Outputs)
	}
	if len(r.Tiles) > 0 && r.Tiles[0].Components != nil {
		b.Components = append([]string(nil), r.Params...)
	}
	return b, nil
}

// Merged is a kernel assembled from the blocks of every shard.
type Merged struct {
	Kernel     *tensor.Dense
	Components map[string]*tensor.Dense
	Shards     int
	Chunk      int
	Identity   map[string]string
}

// MergeBlocks assembles the kernel from the blocks of all shards of one
// job; sources name the blocks in errors (file names). The blocks must
// agree on the shard count, samples, chunk, shape, components and
// identity; a shard missing or given twice, tiles that overlap or leave a
// gap are errors that name the shards and files. The kernel elements no
// tile holds are the transposes of ones that do, as in a whole-kernel
// run, so the result is bit for bit that run's (with Chunk).
func MergeBlocks(blocks []*Block, sources []string) (*Merged, error) {
	if len(blocks) == 0 {
		return nil, errors.New("ntk: no blocks to merge")
	}
	if len(sources) != len(blocks) {
		sources = make([]string, len(blocks))
		for i := range sources {
			sources[i] = fmt.Sprintf("block %d", i)
		}
	}
	ref := blocks[0]
	for i, b := range blocks[1:] {
		if err := sameJob(ref, b); err != nil {
			return nil, fmt.Errorf("ntk: %s and %s are not blocks of one kernel: %w", sources[0], sources[i+1], err)
		}
	}
	count := ref.Shard.Count
	have := make([]int, count) // 1 + the block holding each shard
	var dups []string
	for i, b := range blocks {
		if err := b.Shard.check(); err != nil {
			return nil, fmt.Errorf("%s: %w", sources[i], err)
		}
		if j := have[b.Shard.Index]; j > 0 {
			dups = append(dups, fmt.Sprintf("shard %s is in both %s and %s", b.Shard, sources[j-1], sources[i]))
			continue
		}
		have[b.Shard.Index] = i + 1
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("ntk: %s", strings.Join(dups, "; "))
	}
	var missing []string
	for s, j := range have {
		if j == 0 {
			missing = append(missing, strconv.Itoa(s))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("ntk: shard(s) %s of %d missing (%d block(s) given)", strings.Join(missing, ", "), count, len(blocks))
	}

	n := ref.Samples
	per := 1 // values per sample pair
	for _, d := range ref.Shape[2:] {
		per *= d
	}
	m := &Merged{Kernel: tensor.New(tensor.Float64, ref.Shape...), Shards: count, Chunk: ref.Chunk, Identity: ref.Identity}
	if len(ref.Components) > 0 {
		m.Components = map[string]*tensor.Dense{}
		for _, name := range ref.Components {
			m.Components[name] = tensor.New(tensor.Float64, ref.Shape...)
		}
	}
	covered := make([]bool, n*n)
	type placed struct {
		src  int
		tile Tile
	}
	var done []placed
	for i, b := range blocks {
		for _, t := range b.Tiles {
			if err := checkTile(t, b); err != nil {
				return nil, fmt.Errorf("%s: %w", sources[i], err)
			}
			nc := t.Cols.Hi - t.Cols.Lo
			for r := t.Rows.Lo; r < t.Rows.Hi; r++ {
				for c := t.Cols.Lo; c < t.Cols.Hi; c++ {
					if covered[r*n+c] {
						for _, o := range done {
							if o.tile.Rows.contains(r) && o.tile.Cols.contains(c) {
								return nil, fmt.Errorf("ntk: shard %s (%s) rows %s × cols %s overlaps shard %s (%s) rows %s × cols %s at Θ[%d, %d]",
									b.Shard, sources[i], t.Rows, t.Cols, blocks[o.src].Shard, sources[o.src], o.tile.Rows, o.tile.Cols, r, c)
							}
						}
						return nil, fmt.Errorf("ntk: shard %s (%s) rows %s × cols %s overlaps itself at Θ[%d, %d]", b.Shard, sources[i], t.Rows, t.Cols, r, c)
					}
					covered[r*n+c] = true
					from := ((r-t.Rows.Lo)*nc + c - t.Cols.Lo) * per
					copy(m.Kernel.F64[(r*n+c)*per:(r*n+c+1)*per], t.Kernel.F64[from:from+per])
					for name, d := range m.Components {
						copy(d.F64[(r*n+c)*per:(r*n+c+1)*per], t.Components[name].F64[from:from+per])
					}
				}
			}
			done = append(done, placed{i, t})
		}
	}
	k := 1
	if len(ref.Shape) == 4 {
		k = ref.Shape[2]
	}
	full := len(ref.Shape) == 4
	for r := range n {
		for c := range n {
			if covered[r*n+c] {
				continue
			}
			if !covered[c*n+r] {
				return nil, fmt.Errorf("ntk: Θ[%d, %d] is in no block, nor is Θ[%d, %d]: the blocks are not one tiling", r, c, c, r)
			}
			mirrorOne(m.Kernel.F64, m.Kernel.F64, n, k, full, r, c)
			for _, d := range m.Components {
				mirrorOne(d.F64, d.F64, n, k, full, r, c)
			}
		}
	}
	return m, nil
}

func (r Range) contains(i int) bool { return r.Lo <= i && i < r.Hi }

func (r Range) String() string { return fmt.Sprintf("%d:%d", r.Lo, r.Hi) }

// sameJob reports how two blocks differ in what must be the same for
// them to be parts of one kernel.
func sameJob(a, b *Block) error {
	switch {
	case a.Shard.Count != b.Shard.Count:
		return fmt.Errorf("%d shards vs %d", a.Shard.Count, b.Shard.Count)
	case a.Samples != b.Samples:
		return fmt.Errorf("%d samples vs %d", a.Samples, b.Samples)
	case a.Chunk != b.Chunk:
		return fmt.Errorf("chunks of %d samples vs %d (give every shard the same --chunk and --max-memory)", a.Chunk, b.Chunk)
	case !slices.Equal(a.Shape, b.Shape):
		return fmt.Errorf("kernel shapes %v vs %v", a.Shape, b.Shape)
	case strings.Join(a.Components, "\n") != strings.Join(b.Components, "\n"):
		return fmt.Errorf("components %v vs %v", a.Components, b.Components)
	}
	keys := map[string]bool{}
	for k := range a.Identity {
		keys[k] = true
	}
	for k := range b.Identity {
		keys[k] = true
	}
	var diff []string
	for k := range keys {
		if a.Identity[k] != b.Identity[k] {
			diff = append(diff, fmt.Sprintf("%s %q vs %q", k, a.Identity[k], b.Identity[k]))
		}
	}
	if len(diff) > 0 {
		sort.Strings(diff)
		return errors.New(strings.Join(diff, ", "))
	}
	return nil
}

// checkTile checks that a tile lies inside the kernel and holds as many
// values as its ranges say.
func checkTile(t Tile, b *Block) error {
	n := b.Samples
	if t.Rows.Lo < 0 || t.Rows.Hi > n || t.Rows.Lo >= t.Rows.Hi || t.Cols.Lo < 0 || t.Cols.Hi > n || t.Cols.Lo >= t.Cols.Hi {
		return fmt.Errorf("tile rows %s × cols %s is not inside the %d×%d kernel", t.Rows, t.Cols, n, n)
	}
	want := append([]int{t.Rows.Hi - t.Rows.Lo, t.Cols.Hi - t.Cols.Lo}, b.Shape[2:]...)
	if t.Kernel == nil || t.Kernel.DType != tensor.Float64 || !slices.Equal(t.Kernel.Shape, want) {
		return fmt.Errorf("tile rows %s × cols %s: want a float64 array %v", t.Rows, t.Cols, want)
	}
	for _, name := range b.Components {
		d := t.Components[name]
		if d == nil || d.DType != tensor.Float64 || !slices.Equal(d.Shape, want) {
			return fmt.Errorf("tile rows %s × cols %s: component %s: want a float64 array %v", t.Rows, t.Cols, name, want)
		}
	}
	return nil
}

package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/fitting"
)

func newFitCmd() *cli.Command {
	return &cli.Command{
		Name:  "fit",
		Usage: "finish fits whose statistics array-job tasks collected",
		Description: "The statistics passes (stitch --fit, lowrank --data) take --shard I/N (or --shards N\n" +
			"with the index from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX): each task reads\n" +
			"part I of the data and writes its float64 sums (sample count, means, centred sums of\n" +
			"products) to a statistics file instead of fitting. `graft fit merge` adds the files of\n" +
			"every shard into one; the same command with --from-stats (the merged file, or every\n" +
			"shard's) finishes the fit as one run would, to about 1e-13 relative.\n\n" +
			"Examples:\n" +
			"  $ graft fit merge stats/ -o stats.npz\n" +
			"  $ graft stitch a.onnx --at layer2 b.onnx --from layer2 --fit linear --from-stats stats.npz -o ab.onnx",
		Subcommands: []*cli.Command{newFitMergeCmd()},
	}
}

func newFitMergeCmd() *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "add the statistics files of every shard into one",
		ArgsUsage: "<stats.npz|folder>...",
		Description: "Reads the statistics files that a pass with --shard I/N wrote (a folder stands for\n" +
			"the .npz files in it), checks that they are all N shards of one job (same pass, models,\n" +
			"layers and data; none missing, none twice) and writes their sum, in shard order, for\n" +
			"--from-stats.\n\n" +
			"Examples:\n" +
			"  $ graft fit merge /tmp/s-0.npz /tmp/s-1.npz /tmp/s-2.npz /tmp/s-3.npz -o /tmp/stats.npz\n" +
			"  $ graft fit merge stats/ -o stats.npz",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the merged statistics (.npz)", Required: true},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("fit merge takes the statistics files of every shard")
			}
			f, err := readStats(c.Args().Slice())
			if err != nil {
				return err
			}
			if err := fitting.WriteStatsFile(c.String("output"), f); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: %s statistics of %d samples from %d shards, %d entries\n",
				c.String("output"), f.Kind, f.Samples, f.Shard.Count, len(f.Entries))
			return nil
		},
	}
}

// readStats reads statistics files (folders stand for their .npz files)
// and merges them (fitting.MergeStatsFiles).
func readStats(args []string) (*fitting.StatsFile, error) {
	paths, err := blockPaths(args)
	if err != nil {
		return nil, err
	}
	var files []*fitting.StatsFile
	for _, p := range paths {
		f, err := fitting.ReadStatsFile(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return fitting.MergeStatsFiles(files, paths)
}

// statsFlags are --shard, --shards and --from-stats of a statistics pass.
func statsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "shard", Usage: "I/N: collect the statistics of part I (from 0) of N of the data and write them to -o; auto: from the array job's environment"},
		&cli.IntFlag{Name: "shards", Usage: "the number of shards, with the index from $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX"},
		&cli.StringSliceFlag{Name: "from-stats", Usage: "fit from these statistics files (merged, or every shard's; folders ok) instead of a pass over --data"},
	}
}

// dataShard reads --shard and --shards (ntk's shardFlags) as a shard of
// the data; the zero Shard without them.
func dataShard(c *cli.Context) (fitting.Shard, string, error) {
	sh, from, err := shardFlags(c)
	if err != nil {
		return fitting.Shard{}, "", err
	}
	if sh.Count == 0 {
		return fitting.Shard{}, "", nil
	}
	if c.IsSet("from-stats") {
		return fitting.Shard{}, "", usagef("--shard collects statistics and --from-stats fits from them; give one")
	}
	return fitting.Shard{Index: sh.Index, Count: sh.Count}, from, nil
}

// writeShardStats writes a task's statistics to -o.
func writeShardStats(c *cli.Context, f *fitting.StatsFile, from string) error {
	out := c.String("output")
	if err := fitting.WriteStatsFile(out, f); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %s statistics of shard %s (from %s), %d of %d samples; finish with --from-stats after `graft fit merge`\n",
		out, f.Kind, f.Shard, from, f.Samples, f.Total)
	return nil
}

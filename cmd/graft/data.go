package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/feed"
)

// dataFlags are the options of every command that reads a dataset.
func dataFlags() []cli.Flag { return dataFlagsFor(true) }

// dataFlagsFor is dataFlags with --data optional unless required.
func dataFlagsFor(required bool) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Usage: "dataset: .npy, .npz, IDX file (.gz ok), CIFAR .bin batch(es), or a folder of class subfolders", Required: required},
		&cli.StringFlag{Name: "labels", Usage: "labels (.npy of integers or IDX) when the dataset has none"},
		&cli.StringFlag{Name: "key", Usage: "array to read from an .npz"},
		&cli.StringFlag{Name: "mean", Usage: "per-channel mean to subtract after scaling, e.g. 0.2860 or 0.485,0.456,0.406"},
		&cli.StringFlag{Name: "std", Usage: "per-channel std to divide by, e.g. 0.3530"},
		&cli.BoolFlag{Name: "raw", Usage: "keep 8-bit pixels in 0..255 instead of scaling them to [0, 1]"},
		&cli.StringFlag{Name: "sample-shape", Usage: "reshape each sample, e.g. 784 or 1,28,28"},
		&cli.StringFlag{Name: "size", Usage: "HxW to resize folder images to (default: the first image's)"},
		&cli.IntFlag{Name: "batch", Value: 100, Usage: "samples per batch"},
		&cli.IntFlag{Name: "limit", Usage: "use only the first N samples"},
	}
}

// withoutFlags returns flags less those named, for a command to which one
// of a shared set does not apply.
func withoutFlags(flags []cli.Flag, names ...string) []cli.Flag {
	var kept []cli.Flag
	for _, f := range flags {
		if !slices.Contains(names, f.Names()[0]) {
			kept = append(kept, f)
		}
	}
	return kept
}

// threadsFlag is --threads of every command that runs a model; 0 means
// every core.
func threadsFlag() cli.Flag {
	return &cli.IntFlag{Name: "threads", Usage: "kernel threads", DefaultText: "all cores"}
}

// openData opens the dataset named by flag --<flag> with the shared
// normalisation flags.
func openData(c *cli.Context, flag string) (data.Source, error) {
	return openDataPath(c, c.String(flag), c.String("labels"))
}

func openDataPath(c *cli.Context, path, labels string) (data.Source, error) {
	if c.IsSet("batch") && c.Int("batch") < 1 {
		return nil, usagef("--batch %d: want at least 1", c.Int("batch"))
	}
	if c.IsSet("limit") && c.Int("limit") < 0 {
		return nil, usagef("--limit %d: want 0 (all) or more", c.Int("limit"))
	}
	opt := data.Options{Key: c.String("key"), Labels: labels, Raw: c.Bool("raw")}
	var err error
	if opt.Mean, err = data.ParseFloats(c.String("mean")); err != nil {
		return nil, usagef("--mean: %v", err)
	}
	if opt.Std, err = data.ParseFloats(c.String("std")); err != nil {
		return nil, usagef("--std: %v", err)
	}
	if s := c.String("sample-shape"); s != "" {
		for _, f := range strings.Split(s, ",") {
			d, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || d < 1 {
				return nil, usagef("--sample-shape %q: want positive integers separated by commas", s)
			}
			opt.SampleShape = append(opt.SampleShape, d)
		}
	}
	if s := c.String("size"); s != "" {
		if _, err := fmt.Sscanf(s, "%dx%d", &opt.Size[0], &opt.Size[1]); err != nil || opt.Size[0] < 1 || opt.Size[1] < 1 {
			return nil, usagef("--size %q: want HxW, e.g. 224x224", s)
		}
	}
	return data.Open(path, opt)
}

// feedFlags reads the batching flags (and --threads where the command
// has it) into the options of a pass over the data, whose progress is
// drawn on stderr with label.
func feedFlags(c *cli.Context, label string) feed.Options {
	return feed.Options{Batch: c.Int("batch"), Limit: c.Int("limit"), Threads: c.Int("threads"), Progress: progressBar(c.App.ErrWriter, label)}
}

package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/graft-ml/graft/onnx"
)

func newConvertCmd() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "rewrite a model, with tensor data inline or in a side file, dense or sparse",
		ArgsUsage: "<in.onnx> <out.onnx>",
		Description: "Loads IN (resolving external data beside it) and writes OUT. By default all tensor\n" +
			"data goes inline; --external-data moves initializers of at least --threshold bytes\n" +
			"into a file beside OUT. Everything graft does not model is kept.\n\n" +
			"--sparse-initializers stores each initializer with at most --max-density of its\n" +
			"elements nonzero (default " + fmt.Sprint(onnx.DefaultSparseMaxDensity) + ") as an ONNX sparse_initializer\n" +
			"(SparseTensorProto: the nonzero values, and their int64 linear positions as packed\n" +
			"varints), when that is smaller; a pruned model's file shrinks about in proportion\n" +
			"to its density (10 % nonzero: about 0.2× the dense bytes). --dense writes every\n" +
			"initializer dense again, bit for bit as it was. Without either flag, initializers\n" +
			"keep the form they were loaded in. graft loads sparse initializers as ordinary\n" +
			"(dense) weights; ONNX Runtime 1.30 loads them too. onnx.checker.check_model (onnx\n" +
			"1.12) accepts such files, but not with full_check (strict shape inference): ONNX's\n" +
			"shape inference types a sparse initializer as a sparse tensor, which ops such as Gemm\n" +
			"and Conv do not take. Sparse initializers are always written inline.\n\n" +
			"A graph that fails validation (an undefined input, a cycle, a duplicate name; graft\n" +
			"check lists them) is not written unless --no-validate: no command of graft writes a\n" +
			"model that others cannot load.\n\n" +
			"Examples:\n" +
			"  $ graft convert model.onnx copy.onnx\n" +
			"  $ graft convert --external-data weights.bin model.onnx split.onnx\n" +
			"  $ graft convert --sparse-initializers pruned.onnx pruned-sparse.onnx\n" +
			"  $ graft convert --dense pruned-sparse.onnx pruned-dense.onnx",
		Flags: append(append(externalDataFlags(),
			&cli.BoolFlag{Name: "no-validate", Usage: "write the model even if its graph is invalid (graft check says why)"},
		), sparseSaveFlags()...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("convert takes <in.onnx> <out.onnx>, got %d arguments", c.NArg())
			}
			in, out := c.Args().Get(0), c.Args().Get(1)
			opts, err := sparseSaveOptions(c)
			if err != nil {
				return err
			}
			opts.ExternalData, opts.ExternalThreshold = c.String("external-data"), c.Int("threshold")
			opts.NoValidate = c.Bool("no-validate")
			m, err := onnx.Load(in)
			if err != nil {
				return err
			}
			if err := m.SaveWith(out, opts); err != nil {
				return fmt.Errorf("writing %s: %w", out, err)
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s (%d bytes)\n", out, st.Size())
			if opts.Initializers != onnx.KeepFormat {
				return reportSparse(c, out)
			}
			return nil
		},
	}
}

// externalDataFlags are the flags that move large initializers to a side
// file beside the written model (onnx.SaveOptions.ExternalData), for any
// command that writes one: a model over protobuf's 2 GiB must use them.
func externalDataFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "external-data", Usage: "file name (beside the written model) for large tensors"},
		&cli.IntFlag{Name: "threshold", Value: 1024, Usage: "smallest tensor, in bytes, moved to external data"},
	}
}

// sparseSaveFlags are the flags choosing dense or sparse initializers
// (onnx.SaveOptions.Initializers), for any command that writes a model.
func sparseSaveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "sparse-initializers", Usage: "store mostly-zero initializers as ONNX sparse_initializer"},
		&cli.Float64Flag{Name: "max-density", Value: onnx.DefaultSparseMaxDensity, Usage: "with --sparse-initializers, the largest fraction of nonzero elements stored sparse"},
		&cli.BoolFlag{Name: "dense", Usage: "store every initializer dense (undoes --sparse-initializers)"},
	}
}

// sparseSaveOptions reads sparseSaveFlags.
func sparseSaveOptions(c *cli.Context) (onnx.SaveOptions, error) {
	var opts onnx.SaveOptions
	switch {
	case c.Bool("sparse-initializers") && c.Bool("dense"):
		return opts, usagef("--sparse-initializers and --dense exclude each other")
	case c.Bool("sparse-initializers"):
		d := c.Float64("max-density")
		if d <= 0 || d > 1 {
			return opts, usagef("--max-density %g: want a fraction in (0, 1]", d)
		}
		opts.Initializers, opts.SparseMaxDensity = onnx.SparseFormat, d
	case c.Bool("dense"):
		opts.Initializers = onnx.DenseFormat
	case c.IsSet("max-density"):
		return opts, usagef("--max-density needs --sparse-initializers")
	}
	return opts, nil
}

// reportSparse prints how many of the written model's initializers are
// sparse.
func reportSparse(c *cli.Context, path string) error {
	m, err := onnx.Load(path)
	if err != nil {
		return fmt.Errorf("reading back %s: %w", path, err)
	}
	sparse := 0
	for _, v := range m.Graph.Initializers {
		if v.Const.StoredSparse() {
			sparse++
		}
	}
	fmt.Fprintf(c.App.Writer, "%d of %d initializers sparse\n", sparse, len(m.Graph.Initializers))
	return nil
}

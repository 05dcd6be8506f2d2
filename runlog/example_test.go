package runlog_test

import (
	"fmt"
	"os"

	"github.com/graft-ml/graft/runlog"
)

// ExampleStart records a short training run and reads it back.
func ExampleStart() {
	dir, err := os.MkdirTemp("", "runs-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	r, err := runlog.Start(dir, runlog.Info{Command: "finetune", Flags: map[string]string{"lr": "0.01"}, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for step, loss := range []float64{2.3, 1.1, 0.7} {
		r.Log(map[string]any{"step": step, "loss": loss, "lr": 0.01})
	}
	r.Summary("train_loss", 0.7)
	if err := r.Finish(nil); err != nil {
		fmt.Println(err)
		return
	}

	list, err := runlog.List(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	rec := list[0]
	fmt.Println(rec.Command, rec.Status, len(rec.Metrics), "lines")
	fmt.Println("summary:", rec.Summary)
	fmt.Println("curves:", rec.Curves)
	// Output:
	// finetune done 3 lines
	// summary: map[train_loss:0.7]
	// curves: [loss.png lr.png]
}

package data_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/tensor"
)

// Example opens an array of 5 samples, normalises it, and reads it in
// batches of 2, as graft's commands feed models.
func Example() {
	dir, _ := os.MkdirTemp("", "data-example")
	defer os.RemoveAll(dir)
	x := filepath.Join(dir, "x.npy")
	pixels := &tensor.Dense{DType: tensor.Uint8, Shape: []int{5, 1, 2, 2}, I64: make([]int64, 20)}
	for i := range pixels.I64 {
		pixels.I64[i] = int64(i * 10)
	}
	if err := tensor.SaveNPY(x, pixels); err != nil {
		fmt.Println(err)
		return
	}

	mean, _ := data.ParseFloats("0.5")
	src, err := data.Open(x, data.Options{Mean: mean, Std: []float64{0.5}, SampleShape: []int{4}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(src.Len(), "samples of", src.SampleShape())
	for b, err := range data.Batches(src, 2, 0, nil) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("batch at %d: %v, first value %.3f\n", b.Start, b.X.Shape, b.X.F32[0])
	}
	// Output:
	// 5 samples of [4]
	// batch at 0: [2 4], first value -1.000
	// batch at 2: [2 4], first value -0.373
	// batch at 4: [1 4], first value 0.255
}

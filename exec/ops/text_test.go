package ops

import (
	"math"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

// TestNumpyFloatString compares with NumPy 1.24's str() of float32 and
// float64 values (python3 -c "import numpy as np; print(str(np.float32(x)))").
func TestNumpyFloatString(t *testing.T) {
	cases := []struct {
		v    float64
		want string
	}{
		{0.1, "0.1"}, {1e-5, "1e-05"}, {123456, "123456.0"}, {1e16, "1e+16"},
		{3.4028235e38, "3.4028235e+38"}, {math.Copysign(0, -1), "-0.0"}, {1.5e-4, "0.00015"},
		{9.999e-5, "9.999e-05"}, {2.5, "2.5"}, {1e15, "1000000000000000.0"}, {7, "7.0"},
	}
	for _, c := range cases {
		for _, bits := range []int{32, 64} {
			v := c.v
			if bits == 32 {
				v = float64(float32(v))
			}
			if got := numpyFloatString(v, bits); got != c.want {
				t.Errorf("%v as float%d: %q, NumPy %q", c.v, bits, got, c.want)
			}
		}
	}
}

// TestCastText checks strings to numbers and back, and a clear error for
// text that is not a number.
func TestCastText(t *testing.T) {
	in := &tensor.Dense{DType: tensor.String, Shape: []int{4}, Str: []string{"1.5", " -INF", "nan", "7"}}
	n := shapeTestNode("Cast", []string{"x"}, 1)
	f, err := castText(n, in, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	if f.F32[0] != 1.5 || f.F32[3] != 7 || f.F32[1] > -1e38 || f.F32[2] == f.F32[2] {
		t.Fatalf("parsed %v", f.F32)
	}
	i, err := castText(n, in, tensor.Int64)
	if err != nil || i.I64[0] != 1 || i.I64[3] != 7 {
		t.Fatalf("to int64: %v, %v", i, err)
	}
	back, err := castText(n, tensor.FromI64([]int{2}, []int64{-3, 12}), tensor.String)
	if err != nil || back.Str[0] != "-3" || back.Str[1] != "12" {
		t.Fatalf("int64 to string: %v, %v", back, err)
	}
	_, err = castText(n, &tensor.Dense{DType: tensor.String, Shape: []int{1}, Str: []string{"abc"}}, tensor.Float32)
	if err == nil || !strings.Contains(err.Error(), `"abc"`) {
		t.Fatalf("got %v, want an error naming \"abc\"", err)
	}
}

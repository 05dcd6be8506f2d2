package fitting

import (
	"math"
	"strings"
	"testing"
)

func TestParseMethod(t *testing.T) {
	cases := []struct {
		in   string
		want Method
		err  string
	}{
		{in: "linear", want: Method{}},
		{in: "lowrank:16", want: Method{Kind: FitLowRank, Rank: 16}},
		{in: "procrustes", want: Method{Kind: FitProcrustes}},
		{in: "procrustes:unscaled", want: Method{Kind: FitProcrustesUnscaled}},
		{in: "lowrank:0", err: "positive rank"},
		{in: "lowrank:x", err: "positive rank"},
		{in: "procrustes:scaled", err: "want linear, lowrank:R, procrustes or procrustes:unscaled"},
		{in: "cubic", err: "want linear"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseMethod(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want || got.String() != c.in {
				t.Errorf("got %+v (%q), %v; want %+v", got, got.String(), err, c.want)
			}
		})
	}
}

// TestMethodProcrustesScale fits y = c·R·x + t, R the rotation by θ,
// with both Procrustes methods. The closed forms: the scaled fit
// recovers W = c·R and B = t; the unscaled one keeps the rotation, W = R,
// and shifts means onto each other, B = μy − R·μx = (c−1)·R·μx + t. The
// samples are exact in float32 up to rounding of y (1e-7 relative), so
// the tolerance is 1e-5.
func TestMethodProcrustesScale(t *testing.T) {
	const c, theta = 0.4, 0.7
	r := [4]float64{math.Cos(theta), -math.Sin(theta), math.Sin(theta), math.Cos(theta)}
	tr := [2]float64{3, -1}
	xs := []float32{1, 0, 0, 2, 3, 1, -1, 4, 2, 2, 5, -3}
	ys := make([]float32, len(xs))
	var mx [2]float64
	for i := 0; i < len(xs); i += 2 {
		x0, x1 := float64(xs[i]), float64(xs[i+1])
		ys[i] = float32(c*(r[0]*x0+r[1]*x1) + tr[0])
		ys[i+1] = float32(c*(r[2]*x0+r[3]*x1) + tr[1])
		mx[0] += x0 / 6
		mx[1] += x1 / 6
	}
	s, err := NewStats(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(xs, ys); err != nil {
		t.Fatal(err)
	}
	unscaledB := []float64{
		(c-1)*(r[0]*mx[0]+r[1]*mx[1]) + tr[0],
		(c-1)*(r[2]*mx[0]+r[3]*mx[1]) + tr[1],
	}
	cases := []struct {
		method string
		w, b   []float64
		r2     bool // whether the fit is exact (R² = 1)
	}{
		{"procrustes", []float64{c * r[0], c * r[1], c * r[2], c * r[3]}, tr[:], true},
		{"procrustes:unscaled", r[:], unscaledB, false},
	}
	for _, cs := range cases {
		t.Run(cs.method, func(t *testing.T) {
			m, err := ParseMethod(cs.method)
			if err != nil {
				t.Fatal(err)
			}
			f, err := m.Fit(s, LinearOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d := max(maxAbsDiff(f.W, cs.w), maxAbsDiff(f.B, cs.b)); d > 1e-5 {
				t.Errorf("W %v B %v, want %v %v", f.W, f.B, cs.w, cs.b)
			}
			if exact := math.Abs(f.R2-1) < 1e-9; exact != cs.r2 {
				t.Errorf("R² %v: exact %v, want %v", f.R2, exact, cs.r2)
			}
		})
	}
}

package train

import (
	"fmt"
	"math"
	"testing"
)

// scheduleFixture is fixtures/train/schedule.json: learning rates recorded
// from torch.optim.lr_scheduler by fixtures/gen_train.py.
type scheduleFixture struct {
	Schedules []struct {
		Name     string `json:"name"`
		Schedule struct {
			Kind           string  `json:"kind"`
			LR             float64 `json:"lr"`
			StepSize       int     `json:"step_size"`
			Gamma          float64 `json:"gamma"`
			Total          int     `json:"total"`
			Warmup         int     `json:"warmup"`
			MinLR          float64 `json:"min_lr"`
			MaxLR          float64 `json:"max_lr"`
			PctStart       float64 `json:"pct_start"`
			DivFactor      float64 `json:"div_factor"`
			FinalDivFactor float64 `json:"final_div_factor"`
			LR0            float64 `json:"lr0"`
			LR1            float64 `json:"lr1"`
			Steps          int     `json:"steps"`
		} `json:"schedule"`
		LR []float64 `json:"lr"`
	} `json:"schedules"`
}

// scheduleTol bounds the relative difference from PyTorch's rates, which
// are float64 too. PyTorch computes most schedules recursively, multiplying
// the previous rate by a ratio each step, while these are closed forms, and
// Go's math.Cos and math.Pow may differ from glibc's in the last bit. Near
// the end of a one-cycle schedule, cos(π·pct) + 1 nearly cancels, which
// turns such last-bit differences into relative ones of up to 2e-14 here.
const scheduleTol = 1e-12

func TestScheduleTorch(t *testing.T) {
	var f scheduleFixture
	readTrainFixture(t, "schedule.json", &f)
	kinds := map[string]bool{}
	for _, c := range f.Schedules {
		t.Run(c.Name, func(t *testing.T) {
			s := c.Schedule
			kinds[s.Kind] = true
			var (
				sched Schedule
				err   error
			)
			switch s.Kind {
			case "steplr":
				sched, err = NewStepLR(s.LR, s.StepSize, s.Gamma)
			case "cosine":
				sched, err = NewCosine(s.LR, s.Total, s.Warmup, s.MinLR)
			case "onecycle":
				sched, err = NewOneCycle(s.MaxLR, s.Total, s.PctStart, s.DivFactor, s.FinalDivFactor)
			case "exponential":
				sched = Exponential(s.LR0, s.LR1, s.Steps)
			default:
				t.Fatalf("unknown schedule kind %q", s.Kind)
			}
			if err != nil {
				t.Fatal(err)
			}
			var worst float64
			for step, want := range c.LR {
				got := sched.LR(step)
				d := math.Abs(got - want)
				if d > scheduleTol*math.Abs(want) && d != 0 {
					t.Fatalf("step %d: %v, PyTorch %v", step, got, want)
				}
				if want != 0 {
					worst = math.Max(worst, d/math.Abs(want))
				}
			}
			t.Logf("%d steps, largest relative difference %.3g", len(c.LR), worst)
		})
	}
	for _, k := range []string{"steplr", "cosine", "onecycle", "exponential"} {
		if !kinds[k] {
			t.Errorf("fixtures/train/schedule.json has no %s schedule", k)
		}
	}
}

// TestScheduleClosedForm checks each schedule at points worked by hand.
func TestScheduleClosedForm(t *testing.T) {
	must := func(s Schedule, err error) Schedule {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name  string
		sched Schedule
		steps []int
		want  []float64
	}{
		{"constant", Constant(0.3), []int{-1, 0, 7, 1 << 40}, []float64{0.3, 0.3, 0.3, 0.3}},
		{"step", must(NewStepLR(0.1, 3, 0.5)), []int{0, 2, 3, 5, 6, 9}, []float64{0.1, 0.1, 0.05, 0.05, 0.025, 0.0125}},
		// cos(π·step/10): 1 at 0, 0 at 5, −1 at 10.
		{"cosine", must(NewCosine(1, 10, 0, 0)), []int{-3, 0, 5, 10, 11, 1000}, []float64{1, 1, 0.5, 0, 0, 0}},
		{"cosine with floor", must(NewCosine(1, 10, 0, 0.2)), []int{0, 5, 10}, []float64{1, 0.6, 0.2}},
		// Warm-up over 4 steps from 1/4: 1/4 + 3/4·step/4; then T = 6.
		{"warm-up cosine", must(NewCosine(1, 10, 4, 0)), []int{0, 2, 3, 4, 7, 10}, []float64{0.25, 0.625, 0.8125, 1, 0.5, 0}},
		{"warm-up of one step", must(NewCosine(1, 10, 1, 0)), []int{0, 1}, []float64{1, 1}},
		// Rising for 0.3·100 − 1 = 29 steps from 1/25, then falling over 70
		// to 1/25e4; halfway through each phase the rate is the mean.
		{"one-cycle", must(NewOneCycle(1, 100, 0.3, 25, 1e4)), []int{0, 29, 64, 99, 100, 500},
			[]float64{0.04, 1, (1 + 4e-6) / 2, 4e-6, 4e-6, 4e-6}},
		{"exponential", Exponential(1e-4, 1, 5), []int{-1, 0, 2, 4, 5, 100}, []float64{1e-4, 1e-4, 1e-2, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, step := range tt.steps {
				got, want := tt.sched.LR(step), tt.want[i]
				if math.Abs(got-want) > 1e-15+1e-14*math.Abs(want) {
					t.Errorf("LR(%d) = %v, want %v", step, got, want)
				}
			}
		})
	}
}

func TestScheduleErrors(t *testing.T) {
	errs := []struct {
		name string
		err  func() error
	}{
		{"step size 0", func() error { _, err := NewStepLR(0.1, 0, 0.5); return err }},
		{"step NaN gamma", func() error { _, err := NewStepLR(0.1, 2, math.NaN()); return err }},
		{"cosine warm-up = total", func() error { _, err := NewCosine(0.1, 10, 10, 0); return err }},
		{"cosine negative warm-up", func() error { _, err := NewCosine(0.1, 10, -1, 0); return err }},
		{"cosine no steps", func() error { _, err := NewCosine(0.1, 0, 0, 0); return err }},
		{"cosine infinite lr", func() error { _, err := NewCosine(math.Inf(1), 10, 0, 0); return err }},
		{"one-cycle too short", func() error { _, err := NewOneCycle(0.1, 3, 0.3, 25, 1e4); return err }},
		{"one-cycle pct 1", func() error { _, err := NewOneCycle(0.1, 100, 1, 25, 1e4); return err }},
		{"one-cycle div 0", func() error { _, err := NewOneCycle(0.1, 100, 0.3, 0, 1e4); return err }},
		{"one-cycle negative max", func() error { _, err := NewOneCycle(-0.1, 100, 0.3, 25, 1e4); return err }},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.err(); err == nil {
				t.Fatal("no error")
			} else {
				t.Log(err)
			}
		})
	}
	for _, s := range []Schedule{Exponential(0, 1, 10), Exponential(1e-3, 1, 1), Exponential(1e-3, math.Inf(1), 10)} {
		if lr := s.LR(0); !math.IsNaN(lr) {
			t.Errorf("invalid Exponential: LR(0) = %v, want NaN", lr)
		}
	}
	// A NaN rate is an error at the optimizer's first step.
	opt, err := NewSGD(SGDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := opt.Step([]*Param{testParam("w", []int{2}, 0)}, Exponential(0, 1, 10).LR(0)); err == nil {
		t.Error("Step accepted a NaN learning rate")
	}
}

// ExampleNewCosine prints a cosine schedule with a 2-step warm-up.
func ExampleNewCosine() {
	sched, err := NewCosine(0.1, 6, 2, 0)
	if err != nil {
		panic(err)
	}
	for step := range 7 {
		fmt.Printf("%.4f ", sched.LR(step))
	}
	fmt.Println()
	// Output: 0.0500 0.0750 0.1000 0.0854 0.0500 0.0146 0.0000
}

package exec

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestProfile: the kernels' times and the time outside them add up to the
// profiled runs, every node that ran is counted once per run, Conv FLOPs
// are counted, and the trace is valid trace-event JSON.
func TestProfile(t *testing.T) {
	_, m, inputs := loadFixture(t, "resnet_small")
	p, err := Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	prof := &Profile{}
	const runs = 3
	for range runs {
		if _, err := p.Run(inputs, RunOptions{Profile: prof}); err != nil {
			t.Fatal(err)
		}
	}
	if prof.Runs != runs || prof.Kernels() > prof.Wall || prof.Kernels() <= 0 {
		t.Fatalf("runs %d, kernels %v of wall %v", prof.Runs, prof.Kernels(), prof.Wall)
	}
	var share float64
	convFlops := 0.0
	for _, o := range prof.Ops() {
		share += o.Share
		if o.Calls%runs != 0 {
			t.Errorf("op %s: %d calls over %d runs", o.Op, o.Calls, runs)
		}
		if o.Op == "Conv" {
			convFlops = o.Flops
		}
	}
	outside := float64(prof.Wall-prof.Kernels()) / float64(prof.Wall)
	if share+outside < 0.999 || share+outside > 1.001 {
		t.Errorf("shares add up to %v with %v outside kernels", share, outside)
	}
	if convFlops <= 0 {
		t.Error("no Conv FLOPs counted")
	}
	var b bytes.Buffer
	if err := prof.WriteTrace(&b); err != nil {
		t.Fatal(err)
	}
	var trace struct {
		TraceEvents []struct {
			Name, Ph string
			TS, Dur  float64
		}
	}
	if err := json.Unmarshal(b.Bytes(), &trace); err != nil {
		t.Fatalf("trace: %v", err)
	}
	if len(trace.TraceEvents) == 0 || len(trace.TraceEvents)*runs != countCalls(prof) {
		t.Fatalf("%d trace events for one run of %d calls", len(trace.TraceEvents), countCalls(prof)/runs)
	}
	for _, e := range trace.TraceEvents {
		if e.Ph != "X" || e.Dur < 0 || e.TS < 0 || e.Name == "" {
			t.Fatalf("bad event %+v", e)
		}
	}
}

func countCalls(pr *Profile) int {
	n := 0
	for _, s := range pr.Nodes() {
		n += s.Calls
	}
	return n
}

package track

import (
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/data"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
)

// TestFollowerMatchesTrack: following checkpoints one at a time gives, at
// each, the distances Track gives over the whole sequence.
func TestFollowerMatchesTrack(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(), "prune")
	var models []*onnx.Model
	for i := 0; i < 4; i++ {
		m, err := onnx.Load(filepath.Join(dir, "track_"+string(rune('0'+i))+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	src, err := data.Open(filepath.Join(dir, "input.npy"), data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Track(models, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFollower(models[0], src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(models); i++ {
		mv, err := f.Next(models[i])
		if err != nil {
			t.Fatal(err)
		}
		for l, name := range whole.Layers {
			if mv.Layers[l] != name {
				t.Fatalf("layer %d: %q, want %q", l, mv.Layers[l], name)
			}
			if got, want := mv.FromPrevious[l], whole.Consecutive[l][i-1]; got != want {
				t.Errorf("checkpoint %d, %s: from previous %+v, Track says %+v", i, name, got, want)
			}
			// Track's ToLast of a 2-model sequence [0, i] is the distance 0 → i.
			pair, err := Track([]*onnx.Model{models[0], models[i]}, src, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := mv.FromFirst[l], pair.ToLast[l][0]; got != want {
				t.Errorf("checkpoint %d, %s: from first %+v, Track says %+v", i, name, got, want)
			}
		}
	}
	if _, err := NewFollower(nil, src, Options{}); err == nil {
		t.Error("a follower without a first model was accepted")
	}
}

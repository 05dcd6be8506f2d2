package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/onnx/internal/pb"
)

const conformanceDir = "/usr/share/libonnx-testdata/data"

// conformanceModels lists ONNX's own test models (Debian libonnx-testdata),
// which .ci/run installs; without them the test fails rather than skips in CI.
func conformanceModels(t *testing.T) []string {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(conformanceDir, "*", "*", "model.onnx"))
	if len(paths) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no models under %s: install libonnx-testdata", conformanceDir)
		}
		t.Skipf("no models under %s (apt-get install libonnx-testdata)", conformanceDir)
	}
	return paths
}

// TestRoundTripConformance loads, saves and re-loads every model of ONNX's
// conformance suite: the written protobuf must equal the original message
// field for field (unknown fields included), and re-encoding the re-loaded
// model must give the same bytes.
func TestRoundTripConformance(t *testing.T) {
	for _, path := range conformanceModels(t) {
		name, _ := filepath.Rel(conformanceDir, filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			checkRoundTrip(t, path)
		})
	}
}

func checkRoundTrip(t *testing.T, path string) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	out, err := m.Encode()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var a, b pb.ModelProto
	if err := proto.Unmarshal(orig, &a); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(out, &b); err != nil {
		t.Fatalf("written model does not parse: %v", err)
	}
	if !proto.Equal(&a, &b) {
		t.Errorf("round trip changed the model")
	}
	m2, err := Decode(out)
	if err != nil {
		t.Fatalf("re-load: %v", err)
	}
	out2, err := m2.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(out2) {
		t.Errorf("second round trip changed the bytes")
	}
	if err := m2.Graph.Validate(); err != nil && len(m2.Graph.Nodes) > 0 {
		t.Logf("validate: %v", err)
	}
}

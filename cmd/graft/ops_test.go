package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/tensor"
)

const (
	opTableBegin = "<!-- op table: begin -->\n"
	opTableEnd   = "<!-- op table: end -->"
)

// TestOpTableInREADME checks that the README's op table is what `graft
// ops --markdown` prints from the code, so that the two cannot drift.
// GRAFT_UPDATE_README=1 rewrites the README's copy instead.
func TestOpTableInREADME(t *testing.T) {
	code, table, stderr := graft("ops", "--markdown")
	if code != 0 {
		t.Fatalf("graft ops --markdown: exit %d: %s", code, stderr)
	}
	path := filepath.Join("..", "..", "README.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	i, j := strings.Index(text, opTableBegin), strings.Index(text, opTableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q … %q block", strings.TrimSpace(opTableBegin), opTableEnd)
	}
	if text[i+len(opTableBegin):j] == table {
		return
	}
	if os.Getenv("GRAFT_UPDATE_README") == "" {
		t.Fatal("README.md's op table differs from `graft ops --markdown`: run GRAFT_UPDATE_README=1 go test ./cmd/graft -run TestOpTableInREADME")
	}
	updated := text[:i+len(opTableBegin)] + table + text[j:]
	err = tensor.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write([]byte(updated))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpsListing checks the plain and JSON listings on ops whose rows are
// known: Conv has a gradient, Equal none (and says why), TfIdfVectorizer
// takes token ids.
func TestOpsListing(t *testing.T) {
	code, out, stderr := graft("ops")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Conv ", "gradient: yes", "Equal", "comparison and logic results are not differentiable", " ops\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("listing lacks %q", want)
		}
	}
	code, js, stderr := graft("ops", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, stderr)
	}
	if !bytes.Contains([]byte(js), []byte(`"op": "TfIdfVectorizer"`)) {
		t.Error("JSON listing lacks TfIdfVectorizer")
	}
	if code, _, _ := graft("ops", "extra"); code != 2 {
		t.Errorf("graft ops extra: exit %d, want 2 (usage)", code)
	}
}

package onnx_test

import (
	"os"
	"testing"

	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
)

// BenchmarkLoadResNet18 loads a torchvision ResNet-18 export (45 MB, made
// by fixtures/gen_big.py on first use) and reports MB/s.
func BenchmarkLoadResNet18(b *testing.B) {
	path, err := fixtures.Big("resnet18")
	if err != nil {
		b.Skip(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := onnx.Load(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveResNet18 writes the same model back.
func BenchmarkSaveResNet18(b *testing.B) {
	path, err := fixtures.Big("resnet18")
	if err != nil {
		b.Skip(err)
	}
	m, err := onnx.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir() + "/copy.onnx"
	for b.Loop() {
		if err := m.Save(out); err != nil {
			b.Fatal(err)
		}
	}
}

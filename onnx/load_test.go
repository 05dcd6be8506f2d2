package onnx

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/onnx/internal/pb"
)

// modelWithInit builds a one-node model whose Identity reads initializer w.
func modelWithInit(w *pb.TensorProto) []byte {
	w.Name = proto.String("w")
	m := &pb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*pb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &pb.GraphProto{
			Name:        proto.String("g"),
			Initializer: []*pb.TensorProto{w},
			Node:        []*pb.NodeProto{{OpType: proto.String("Identity"), Input: []string{"w"}, Output: []string{"y"}}},
			Output:      []*pb.ValueInfoProto{{Name: proto.String("y")}},
		},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func external(location, offset, length string) *pb.TensorProto {
	kv := []*pb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(location)}}
	if offset != "" {
		kv = append(kv, &pb.StringStringEntryProto{Key: proto.String("offset"), Value: proto.String(offset)})
	}
	if length != "" {
		kv = append(kv, &pb.StringStringEntryProto{Key: proto.String("length"), Value: proto.String(length)})
	}
	return &pb.TensorProto{
		DataType: proto.Int32(1), Dims: []int64{4},
		DataLocation: pb.TensorProto_EXTERNAL.Enum(), ExternalData: kv,
	}
}

// TestLoadBadInput feeds the loader broken models: each must fail with an
// error that says what is wrong, without panicking or allocating what the
// file merely declares.
func TestLoadBadInput(t *testing.T) {
	dir := t.TempDir()
	// A data file beside the models, and one outside their folder.
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.bin"), make([]byte, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.bin"), filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	good := modelWithInit(&pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{2}, FloatData: []float32{1, 2}})
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty file", nil, "model has no graph"},
		{"not protobuf", []byte("this is not a model at all"), "cannot parse protobuf"},
		{"truncated", good[:len(good)-7], "cannot parse protobuf"},
		{"huge dims, no data", modelWithInit(&pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{1 << 40, 1 << 40}}), "tensor too large"},
		{"dims larger than raw data", modelWithInit(&pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{1 << 30}, RawData: make([]byte, 8)}), "raw_data has 8 bytes"},
		{"dims larger than typed data", modelWithInit(&pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{100}, FloatData: []float32{1}}), "dims declare 100 elements, data has 1"},
		{"negative dim", modelWithInit(&pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{-3}}), "invalid dimension -3"},
		{"external path with ..", modelWithInit(external("../w.bin", "", "")), "leaves the model's folder"},
		{"external absolute path", modelWithInit(external("/etc/passwd", "", "")), "leaves the model's folder"},
		{"external symlink out of folder", modelWithInit(external("link.bin", "", "")), "resolves outside the model's folder"},
		{"external missing file", modelWithInit(external("nothere.bin", "", "")), "no such file"},
		{"external offset past end", modelWithInit(external("w.bin", "8", "")), "lie outside the file"},
		{"external wrong length", modelWithInit(external("w.bin", "0", "12")), "does not match dims"},
		{"external bad offset", modelWithInit(external("w.bin", "x", "")), "bad offset"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".onnx")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatalf("loaded a broken model")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if !strings.Contains(err.Error(), path) && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing model: got %v", err)
	}
	// The well-formed control case loads.
	if _, err := Decode(good); err != nil {
		t.Fatalf("control model: %v", err)
	}
}

// FuzzDecode checks that no input makes the loader panic, and that what it
// accepts can be encoded, re-decoded and validated. The seeds are real
// models of tens of kilobytes, so keep minimisation short:
//
//	go test ./onnx -run XXX -fuzz FuzzDecode -fuzzminimizetime 2s
func FuzzDecode(f *testing.F) {
	f.Add(modelWithInit(&pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{2}, FloatData: []float32{1, 2}}))
	f.Add(modelWithInit(&pb.TensorProto{DataType: proto.Int32(7), Dims: []int64{1}, RawData: make([]byte, 8)}))
	seeds, _ := filepath.Glob("../fixtures/*/model.onnx")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil && len(b) < 40000 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		for _, v := range m.Graph.Initializers {
			_, _ = v.Const.Dense() // sizes were checked at load: must not panic or over-allocate
		}
		_ = m.Graph.Validate()
		b, err := m.Encode()
		if err != nil {
			return
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("re-decoding graft's own encoding failed: %v", err)
		}
	})
}

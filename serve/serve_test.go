package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/eval"
	"github.com/graft-ml/graft/exec"
	"github.com/graft-ml/graft/fitting"
	"github.com/graft-ml/graft/fixtures"
	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
	"github.com/graft-ml/graft/tensor"
)

// wireResponse is a Response as a client decodes it.
type wireResponse struct {
	ID     int64           `json:"id"`
	OK     bool            `json:"ok"`
	Error  string          `json:"error"`
	Kind   string          `json:"kind"`
	Result json.RawMessage `json:"result"`
	Blobs  []string        `json:"blobs"`
}

// blob is a named blob of a request.
type blob struct {
	name string
	data []byte
}

// frame encodes one request frame.
func frame(t testing.TB, op string, id int64, args any, blobs ...blob) []byte {
	t.Helper()
	req := map[string]any{"op": op, "id": id}
	if args != nil {
		req["args"] = args
	}
	var data [][]byte
	var names []string
	for _, b := range blobs {
		names = append(names, b.name)
		data = append(data, b.data)
	}
	req["blobs"] = names
	h, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteFrame(&buf, h, data); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// serveAll runs a Server over the concatenated frames and decodes every
// response; err is what Serve returned.
func serveAll(t testing.TB, s *Server, frames ...[]byte) ([]wireResponse, [][][]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := s.Serve(bytes.NewReader(bytes.Join(frames, nil)), &out)
	var resps []wireResponse
	var blobs [][][]byte
	for {
		f, rerr := ReadFrame(&out)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			t.Fatalf("reading a response: %v", rerr)
		}
		var r wireResponse
		if err := json.Unmarshal(f.Header, &r); err != nil {
			t.Fatalf("response header %q: %v", f.Header, err)
		}
		if len(r.Blobs) != len(f.Blobs) {
			t.Fatalf("response names %d blobs, carries %d", len(r.Blobs), len(f.Blobs))
		}
		resps = append(resps, r)
		blobs = append(blobs, f.Blobs)
	}
	return resps, blobs, err
}

func npy(t testing.TB, d *tensor.Dense) []byte {
	t.Helper()
	b, err := encodeNPY(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeNPY(t testing.TB, b []byte) *tensor.Dense {
	t.Helper()
	d, err := tensor.ReadNPY(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mlp(t testing.TB) (*fixtures.Manifest, *tensor.Dense) {
	t.Helper()
	fx, err := fixtures.Load("mlp")
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.LoadNPY(fx.Path("input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	return fx, x
}

func TestFrameRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		header string
		blobs  [][]byte
	}{
		{"no_blobs", `{"op":"hello"}`, nil},
		{"empty_header", ``, nil},
		{"three_blobs", `{"op":"run"}`, [][]byte{[]byte("a"), {}, bytes.Repeat([]byte{7}, 100000)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, []byte(c.header), c.blobs); err != nil {
				t.Fatal(err)
			}
			f, err := ReadFrame(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(f.Header) != c.header || len(f.Blobs) != len(c.blobs) {
				t.Fatalf("got header %q and %d blobs", f.Header, len(f.Blobs))
			}
			for i := range c.blobs {
				if !bytes.Equal(f.Blobs[i], c.blobs[i]) {
					t.Errorf("blob %d differs", i)
				}
			}
			if _, err := ReadFrame(&buf); err != io.EOF {
				t.Errorf("after the frame: %v, want io.EOF", err)
			}
		})
	}
}

// TestRunMatchesProgram checks that load+run answers exactly what
// exec.Program.Run (what `graft run` calls) computes, for graph outputs,
// hidden values by module path and by value name, and a fed hidden value.
func TestRunMatchesProgram(t *testing.T) {
	fx, x := mlp(t)
	m, err := onnx.Load(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	p, err := exec.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	relu1 := tensor.New(tensor.Float32, 2, 32)
	for i := range relu1.F32 {
		relu1.F32[i] = float32(i%7) - 3
	}
	cases := []struct {
		name    string
		outputs []string
		feed    map[string]*tensor.Dense
	}{
		{"graph_outputs", nil, map[string]*tensor.Dense{"input": x}},
		{"module_paths", []string{"fc1", "relu2", "output"}, map[string]*tensor.Dense{"input": x}},
		{"value_name", []string{"/fc2/Gemm_output_0"}, map[string]*tensor.Dense{"input": x}},
		{"fed_hidden_value", []string{"output"}, map[string]*tensor.Dense{"relu1": relu1}},
	}
	model, err := os.ReadFile(fx.Model())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var blobs []blob
			for name, d := range c.feed {
				blobs = append(blobs, blob{name, npy(t, d)})
			}
			s := New(Options{})
			resps, out, err := serveAll(t, s,
				frame(t, "load", 1, nil, blob{"model", model}),
				frame(t, "run", 2, map[string]any{"session": 1, "outputs": c.outputs}, blobs...))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range resps {
				if !r.OK {
					t.Fatalf("response %d: %s", r.ID, r.Error)
				}
			}
			want, err := p.Run(c.feed, exec.RunOptions{Outputs: c.outputs})
			if err != nil {
				t.Fatal(err)
			}
			names := c.outputs
			if names == nil {
				names = []string{"output"}
			}
			if got := resps[1].Blobs; strings.Join(got, ",") != strings.Join(names, ",") {
				t.Fatalf("blobs %v, want %v", got, names)
			}
			for i, name := range names {
				v, err := m.Graph.Resolve(name)
				if err != nil {
					t.Fatal(err)
				}
				if got := decodeNPY(t, out[1][i]); !tensor.Equal(got, want[v.Name]) {
					t.Errorf("%s: not bit-identical to Program.Run", name)
				}
			}
		})
	}
}

func TestLoadDescribesModel(t *testing.T) {
	fx, _ := mlp(t)
	resps, _, err := serveAll(t, New(Options{}), frame(t, "load", 1, map[string]any{"path": fx.Model()}))
	if err != nil || !resps[0].OK {
		t.Fatalf("load: %v %s", err, resps[0].Error)
	}
	var r loadResult
	if err := json.Unmarshal(resps[0].Result, &r); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(r)
	want := `{"session":1,"inputs":[{"name":"input","dtype":"float32","shape":["batch",20]}],"outputs":[{"name":"output","dtype":"float32","shape":["batch",10]}]}`
	if string(got) != want {
		t.Errorf("load result %s\nwant %s", got, want)
	}
}

// TestErrors sends one bad request per case, then hello: each bad request
// gets an error response of the right kind naming the problem, and the
// server goes on answering.
func TestErrors(t *testing.T) {
	fx, x := mlp(t)
	model := fx.Model()
	load := frame(t, "load", 1, map[string]any{"path": model})
	cases := []struct {
		name  string
		frame []byte
		kind  string
		want  string
	}{
		{"unknown_op", frame(t, "fly", 2, nil), KindBadRequest, `unknown op "fly"`},
		{"unknown_arg", frame(t, "load", 2, map[string]any{"path": model, "thread": 2}), KindBadRequest, `unknown field "thread"`},
		{"relative_path", frame(t, "load", 2, map[string]any{"path": "model.onnx"}), KindBadRequest, "is relative"},
		{"missing_model", frame(t, "load", 2, map[string]any{"path": "/nonexistent/m.onnx"}), KindError, "no such file"},
		{"model_not_onnx", frame(t, "load", 2, nil, blob{"model", []byte("not a model")}), KindError, "model (11 bytes sent)"},
		{"path_and_blob", frame(t, "load", 2, map[string]any{"path": model}, blob{"model", []byte{1}}), KindBadRequest, "not both"},
		{"unknown_session", frame(t, "run", 2, map[string]any{"session": 9}), KindNotFound, "session"},
		{"unknown_output", frame(t, "run", 2, map[string]any{"session": 1, "outputs": []string{"fc9"}}, blob{"input", npy(t, x)}), KindNotFound, `layer "fc9"`},
		{"unknown_input", frame(t, "run", 2, map[string]any{"session": 1}, blob{"inptu", npy(t, x)}), KindNotFound, `closest: "input"`},
		{"missing_input", frame(t, "run", 2, map[string]any{"session": 1}), KindError, `supply graph input "input"`},
		{"wrong_dtype", frame(t, "run", 2, map[string]any{"session": 1}, blob{"input", npy(t, tensor.New(tensor.Float64, 2, 20))}), KindError, "got float64, model expects float32"},
		{"wrong_shape", frame(t, "run", 2, map[string]any{"session": 1}, blob{"input", npy(t, tensor.New(tensor.Float32, 2, 21))}), KindError, "dim 1 differs"},
		{"not_npy", frame(t, "run", 2, map[string]any{"session": 1}, blob{"input", []byte("garbage")}), KindBadRequest, `blob "input"`},
		{"npy_trailing_bytes", frame(t, "run", 2, map[string]any{"session": 1}, blob{"input", append(npy(t, x), 0)}), KindBadRequest, "1 bytes after"},
		{"duplicate_blob", frame(t, "run", 2, map[string]any{"session": 1}, blob{"input", npy(t, x)}, blob{"input", npy(t, x)}), KindBadRequest, "appears twice"},
		{"unexpected_blob", frame(t, "truncate", 2, map[string]any{"path": model, "at": []string{"fc1"}}, blob{"modle", nil}), KindBadRequest, `unexpected blob "modle"`},
		{"truncate_no_layer", frame(t, "truncate", 2, map[string]any{"path": model}), KindBadRequest, "no layer"},
		{"truncate_unknown_layer", frame(t, "truncate", 2, map[string]any{"path": model, "at": []string{"fc7"}}), KindNotFound, `layer "fc7"`},
		{"stitch_no_from", frame(t, "stitch", 2, map[string]any{"a": model, "b": model, "at": "fc1"}), KindBadRequest, "needs at"},
		{"ntk_bad_mode", frame(t, "ntk", 2, map[string]any{"path": model, "mode": "diag"}, blob{"x", npy(t, x)}), KindBadRequest, `mode "diag"`},
		{"ntk_labels_without_loss", frame(t, "ntk", 2, map[string]any{"path": model}, blob{"x", npy(t, x)}, blob{"labels", npy(t, tensor.FromI64([]int{2}, []int64{0, 1}))}), KindBadRequest, "need loss"},
		{"eval_label_count", frame(t, "eval", 2, map[string]any{"path": model}, blob{"x", npy(t, x)}, blob{"labels", npy(t, tensor.FromI64([]int{3}, []int64{0, 1, 2}))}), KindBadRequest, "one label per sample"},
		{"close_twice", bytes.Join([][]byte{frame(t, "close", 2, map[string]any{"session": 1}), frame(t, "close", 2, map[string]any{"session": 1})}, nil), KindNotFound, "session 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resps, _, err := serveAll(t, New(Options{}), load, c.frame, frame(t, "hello", 3, nil))
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if !resps[0].OK {
				t.Fatalf("load: %s", resps[0].Error)
			}
			bad := resps[len(resps)-2]
			if bad.OK || bad.Kind != c.kind || !strings.Contains(bad.Error, c.want) || bad.ID != 2 {
				t.Errorf("got ok=%v kind=%q id=%d error %q; want kind %q mentioning %q", bad.OK, bad.Kind, bad.ID, bad.Error, c.kind, c.want)
			}
			if last := resps[len(resps)-1]; !last.OK || last.ID != 3 {
				t.Errorf("hello after the error: %+v", last)
			}
		})
	}
}

// TestHeaderErrorsKeepStep: a header that is not JSON, or whose blob names
// do not match the frame's blobs, is answered and the next frame read.
func TestHeaderErrorsKeepStep(t *testing.T) {
	var notJSON, mismatch bytes.Buffer
	if err := WriteFrame(&notJSON, []byte("{op: hello"), [][]byte{[]byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrame(&mismatch, []byte(`{"op":"hello","id":5,"blobs":["a","b"]}`), [][]byte{[]byte("x")}); err != nil {
		t.Fatal(err)
	}
	resps, _, err := serveAll(t, New(Options{}), notJSON.Bytes(), mismatch.Bytes(), frame(t, "hello", 6, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(resps) != 3 || resps[0].OK || !strings.Contains(resps[0].Error, "not a JSON request") ||
		resps[1].OK || resps[1].ID != 5 || !strings.Contains(resps[1].Error, "names 2 blobs, the frame carries 1") || !resps[2].OK {
		t.Errorf("responses %+v", resps)
	}
}

// TestBrokenFrames: a stream that is not frames, or ends inside one, ends
// Serve with a *FrameError after an error response, and never panics.
func TestBrokenFrames(t *testing.T) {
	_, x := mlp(t)
	good := frame(t, "run", 1, map[string]any{"session": 1}, blob{"input", npy(t, x)})
	prefix := func(magic string, hlen, nblobs uint32) []byte {
		b := append([]byte(magic), 0, 0, 0, 0, 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(b[4:], hlen)
		binary.LittleEndian.PutUint32(b[8:], nblobs)
		return b
	}
	huge := prefix(Magic, 2, 1)
	huge = binary.LittleEndian.AppendUint64(huge, 1<<62)
	lying := prefix(Magic, 2, 1)
	lying = binary.LittleEndian.AppendUint64(lying, 1<<30) // 1 GiB announced, 3 bytes sent
	lying = append(lying, "{}abc"...)
	cases := []struct {
		name   string
		stream []byte
		want   string
	}{
		{"bad_magic", []byte("GET / HTTP/1.1\r\n\r\n"), "magic"},
		{"old_version", prefix("GRF0", 2, 0), "magic"},
		{"header_too_long", prefix(Magic, MaxHeader+1, 0), "header of"},
		{"too_many_blobs", prefix(Magic, 2, MaxBlobs+1), "blobs are over"},
		{"blob_too_long", huge, "blob 0 of"},
		{"blob_shorter_than_said", lying, "reading blob 0"},
	}
	for cut := 1; cut < len(good); cut += 1 + len(good)/40 {
		cases = append(cases, struct {
			name   string
			stream []byte
			want   string
		}{"cut_at_" + itoa(cut), good[:cut], "unexpected EOF"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resps, _, err := serveAll(t, New(Options{}), c.stream)
			var fe *FrameError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Serve: %v, want a *FrameError mentioning %q", err, c.want)
			}
			if len(resps) != 1 || resps[0].OK || !strings.Contains(resps[0].Error, c.want) {
				t.Errorf("responses %+v, want one error", resps)
			}
		})
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestHandleRecoversPanics: a handler's panic is an "internal" error, not
// a crash.
func TestHandleRecoversPanics(t *testing.T) {
	handlers["panic"] = func(*call) (any, error) { panic("boom") }
	defer delete(handlers, "panic")
	resp, _ := New(Options{}).Handle(Request{Op: "panic", ID: 4}, nil)
	if resp.OK || resp.Kind != KindInternal || !strings.Contains(resp.Error, "boom") || resp.ID != 4 {
		t.Errorf("got %+v", resp)
	}
}

// TestEditsMatchLibrary checks truncate and stitch against the library
// calls they wrap: the ONNX bytes are identical (Encode is deterministic).
func TestEditsMatchLibrary(t *testing.T) {
	fx, _ := mlp(t)
	path := fx.Model()
	load := func() *onnx.Model {
		m, err := onnx.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := load()
	if err := surgery.Truncate(a, "fc2", "fc1"); err != nil {
		t.Fatal(err)
	}
	wantTrunc, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a, b := load(), load()
	if _, err := surgery.Stitch(a, "relu1", b, "relu1", nil); err != nil {
		t.Fatal(err)
	}
	wantStitch, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	model, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	resps, out, err := serveAll(t, New(Options{}),
		frame(t, "truncate", 1, map[string]any{"path": path, "at": []string{"fc2", "fc1"}}),
		frame(t, "stitch", 2, map[string]any{"a": path, "at": "relu1", "from": "relu1"}, blob{"b", model}))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{wantTrunc, wantStitch} {
		if !resps[i].OK {
			t.Fatalf("%d: %s", i, resps[i].Error)
		}
		if resps[i].Blobs[0] != "model" || !bytes.Equal(out[i][0], want) {
			t.Errorf("%d: the model differs from the library call's", i)
		}
	}
	var tr modelResult
	if err := json.Unmarshal(resps[0].Result, &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Outputs) != 2 {
		t.Errorf("truncate result %s: want two outputs", resps[0].Result)
	}
}

// TestNTK compares the ntk op with functorch's float64 kernels of
// gen_ntk.py, to ntk's own tolerance (1e-4 of the largest entry: see
// ntkTol in ntk/ntk_test.go), and checks that the components are sent.
func TestNTK(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(), "ntk", "mlp")
	x, err := tensor.LoadNPY(filepath.Join(dir, "x.npy"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.LoadNPY(filepath.Join(dir, "trace.npy"))
	if err != nil {
		t.Fatal(err)
	}
	resps, out, err := serveAll(t, New(Options{}),
		frame(t, "ntk", 1, map[string]any{"path": filepath.Join(dir, "model.onnx"), "components": true}, blob{"x", npy(t, x)}))
	if err != nil || !resps[0].OK {
		t.Fatalf("ntk: %v %s", err, resps[0].Error)
	}
	got := decodeNPY(t, out[0][0])
	if !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("kernel %v, want %v", got.Shape, want.Shape)
	}
	g, w := got.Float64s(), want.Float64s()
	scale, worst := 0.0, 0.0
	for i := range w {
		scale = math.Max(scale, math.Abs(w[i]))
		worst = math.Max(worst, math.Abs(g[i]-w[i]))
	}
	if worst > 1e-4*scale {
		t.Errorf("kernel differs from functorch's by %g of its largest entry", worst/scale)
	}
	var r ntkResult
	if err := json.Unmarshal(resps[0].Result, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Components) == 0 || len(r.Components) != len(r.Params) || len(resps[0].Blobs) != 1+len(r.Components) ||
		resps[0].Blobs[1] != componentPrefix+r.Components[0] {
		t.Errorf("components %v, params %v, blobs %v", r.Components, r.Params, resps[0].Blobs)
	}
}

// TestEval feeds the Fashion-MNIST pair's inputs with labels set to model
// A's own top-1 classes (from the PyTorch logits gen_fmnist.py recorded):
// A's top-1 must then be 1, and the agreement with B the fraction of
// samples where PyTorch's logits of A and B have the same argmax.
func TestEval(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(), "fmnist")
	load := func(name string) *tensor.Dense {
		d, err := tensor.LoadNPY(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	x, la, lb := load("input8.npy"), load("logits_a.npy"), load("logits_b.npy")
	argmax := func(d *tensor.Dense, i int) int64 {
		k := d.Shape[1]
		best := 0
		for j := range k {
			if d.F32[i*k+j] > d.F32[i*k+best] {
				best = j
			}
		}
		return int64(best)
	}
	n := x.Shape[0]
	labels := make([]int64, n)
	same := 0
	for i := range n {
		labels[i] = argmax(la, i)
		if labels[i] == argmax(lb, i) {
			same++
		}
	}
	path, compare := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx")
	resps, _, err := serveAll(t, New(Options{}),
		frame(t, "eval", 1, map[string]any{"path": path, "compare": compare, "batch": 3},
			blob{"x", npy(t, x)}, blob{"labels", npy(t, tensor.FromI64([]int{n}, labels))}),
		frame(t, "eval", 2, map[string]any{"path": path, "compare": compare}, blob{"x", npy(t, x)}))
	if err != nil {
		t.Fatal(err)
	}
	agreement := float64(same) / float64(n)
	for i, r := range resps {
		if !r.OK {
			t.Fatalf("eval %d: %s", i+1, r.Error)
		}
		var got eval.Result
		if err := json.Unmarshal(r.Result, &got); err != nil {
			t.Fatal(err)
		}
		labelled := i == 0
		if got.Samples != n || got.Agreement == nil || *got.Agreement != agreement ||
			(got.Top1 != nil) != labelled || (labelled && *got.Top1 != 1) {
			t.Errorf("eval %d: %s; want top1 1 (with labels), agreement %d/%d", i+1, r.Result, same, n)
		}
	}
}

// FuzzServe feeds arbitrary bytes to a server that has the MLP loaded:
// whatever arrives, Serve returns (nil or an error) without panicking, and
// everything it wrote parses as frames.
func FuzzServe(f *testing.F) {
	fx, x := mlp(f)
	load := frame(f, "load", 1, map[string]any{"path": fx.Model()})
	f.Add(frame(f, "run", 2, map[string]any{"session": 1}, blob{"input", npy(f, x)}))
	f.Add(frame(f, "run", 2, map[string]any{"session": 1, "outputs": []string{"fc1"}}, blob{"relu1", npy(f, x)}))
	f.Add(frame(f, "truncate", 2, map[string]any{"path": fx.Model(), "at": []string{"fc1"}}))
	f.Add(frame(f, "hello", 2, nil))
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, stream []byte) {
		var out bytes.Buffer
		_ = New(Options{}).Serve(io.MultiReader(bytes.NewReader(load), bytes.NewReader(stream)), &out)
		for {
			_, err := ReadFrame(&out)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("the server wrote something that is not a frame: %v", err)
			}
		}
	})
}

// BenchmarkRun compares one run of the MLP fixture (batch 2) called
// directly (exec.Program.Run, what an in-process Go caller pays) with the
// same run through the protocol in-process (encode the request, Serve
// decodes it, runs, encodes the .npy answer; no pipe or process). The
// Python bridge's figure for the same model is python/bench_run.py's.
func BenchmarkRun(b *testing.B) {
	fx, x := mlp(b)
	m, err := onnx.Load(fx.Model())
	if err != nil {
		b.Fatal(err)
	}
	p, err := exec.Compile(m)
	if err != nil {
		b.Fatal(err)
	}
	feed := map[string]*tensor.Dense{"input": x}
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Run(feed, exec.RunOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protocol", func(b *testing.B) {
		s := New(Options{})
		if resps, _, err := serveAll(b, s, frame(b, "load", 1, map[string]any{"path": fx.Model()})); err != nil || !resps[0].OK {
			b.Fatal("load failed")
		}
		reqR, reqW := io.Pipe()
		respR, respW := io.Pipe()
		done := make(chan error, 1)
		go func() { done <- s.Serve(reqR, respW) }()
		for b.Loop() {
			// The client's side: encode the input and the request, send,
			// read the answer and decode its .npy.
			req := frame(b, "run", 2, map[string]any{"session": 1}, blob{"input", npy(b, x)})
			if _, err := reqW.Write(req); err != nil {
				b.Fatal(err)
			}
			f, err := ReadFrame(respR)
			if err != nil {
				b.Fatal(err)
			}
			var r wireResponse
			if err := json.Unmarshal(f.Header, &r); err != nil || !r.OK {
				b.Fatalf("response %q: %v", f.Header, err)
			}
			decodeNPY(b, f.Blobs[0])
		}
		reqW.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
}

// TestFitMatchesLibrary checks the fit op against fitting.Stitch and
// fitting.FitAdapter on the same samples (the Fashion-MNIST pair at pool2,
// on the 8 recorded inputs): the same ONNX bytes. fitting's own tests
// compare the fit with PyTorch's.
func TestFitMatchesLibrary(t *testing.T) {
	dir := filepath.Join(fixtures.Dir(), "fmnist")
	pa, pb := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx")
	x, err := tensor.LoadNPY(filepath.Join(dir, "input8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	load := func(p string) *onnx.Model {
		m, err := onnx.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	src, err := newArraySource(x, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := fitting.StitchOptions{Method: fitting.Method{Kind: fitting.FitLowRank, Rank: 8}}
	a := load(pa)
	if _, err := fitting.Stitch(a, "pool2", load(pb), "pool2", src, o); err != nil {
		t.Fatal(err)
	}
	wantStitched, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	r, err := fitting.FitAdapter(load(pa), "pool2", load(pb), "pool2", src, o)
	if err != nil {
		t.Fatal(err)
	}
	wantAdapter, err := r.Adapter.Encode()
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]any{"a": pa, "b": pb, "at": "pool2", "from": "pool2", "method": "lowrank:8"}
	adapterArgs := map[string]any{"a": pa, "b": pb, "at": "pool2", "from": "pool2", "method": "lowrank:8", "adapter_only": true}
	resps, out, err := serveAll(t, New(Options{}),
		frame(t, "fit", 1, args, blob{"x", npy(t, x)}),
		frame(t, "fit", 2, adapterArgs, blob{"x", npy(t, x)}),
		frame(t, "fit", 3, map[string]any{"a": pa, "b": pb, "at": "pool2", "from": "pool2", "method": "cubic"}, blob{"x", npy(t, x)}))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{wantStitched, wantAdapter} {
		if !resps[i].OK {
			t.Fatalf("fit %d: %s", i+1, resps[i].Error)
		}
		if !bytes.Equal(out[i][0], want) {
			t.Errorf("fit %d: the model differs from the library call's", i+1)
		}
	}
	var fr fitResult
	if err := json.Unmarshal(resps[0].Result, &fr); err != nil {
		t.Fatal(err)
	}
	if fr.Method != "lowrank:8" || fr.Samples != 8 || fr.Rows != 8*49 || fr.In != 64 || fr.Out != 64 || fr.R2 == nil {
		t.Errorf("fit result %s", resps[0].Result)
	}
	if bad := resps[2]; bad.OK || bad.Kind != KindBadRequest || !strings.Contains(bad.Error, `"cubic"`) {
		t.Errorf("unknown method: %+v", bad)
	}
}

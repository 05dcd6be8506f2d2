//go:build linux

// Command bigload measures the memory graft needs to load, truncate and
// save a model with gigabytes of external weights.
//
//	go run ./tools/bigload [-gib 3] [-dim 8192] [-dir /tmp] [-keep]
//
// It writes, in a temporary folder under -dir, a chain of MatMul+Relu
// layers whose float32 weights, dim×dim each, fill -gib GiB of one side
// file (pseudo-random values). A child process (this program again) then
// loads the model, truncates it at the last hidden layer (dropping the
// final MatMul) with surgery.Truncate, and saves it with external data;
// it reports its peak
// resident memory (VmHWM from /proc/self/status, which counts mapped file
// pages as well as the heap), and the parent reads the child's ru_maxrss
// as a second opinion. The saved side file is checked against the SHA-256
// of the kept weights, computed while they were generated. A second
// child does the same after decoding every initializer (Tensor.Dense), as
// running the model would. The goal for graft is a peak at most 1.2× the
// weights' size. The folder is removed unless -keep. Linux only (it reads
// /proc/self/status).
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/graft-ml/graft/onnx"
	"github.com/graft-ml/graft/surgery"
)

const (
	sideName = "weights.bin" // the generated model's side file
	outSide  = "out.bin"     // the truncated model's side file
)

func main() {
	gib := flag.Float64("gib", 3, "GiB of external weights to generate")
	dim := flag.Int("dim", 8192, "each weight is dim×dim float32")
	dir := flag.String("dir", os.TempDir(), "folder for the temporary model")
	keep := flag.Bool("keep", false, "keep the generated files")
	child := flag.String("child", "", "internal: `MODE` (truncate or decode) MODEL AT OUT in this process, reporting its peak memory")
	flag.Parse()
	var err error
	if *child != "" {
		if flag.NArg() < 1 {
			err = errors.New("-child MODE MODEL AT OUT")
		} else {
			err = runChild(*child, flag.Arg(0), flag.Args()[1:])
		}
	} else {
		err = run(*gib, *dim, *dir, *keep)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bigload:", err)
		os.Exit(1)
	}
}

func run(gib float64, dim int, parent string, keep bool) error {
	if dim < 1 || gib <= 0 {
		return errors.New("-dim and -gib must be positive")
	}
	layerBytes := int64(dim) * int64(dim) * 4
	layers := int(math.Ceil(gib * (1 << 30) / float64(layerBytes)))
	if layers < 2 {
		layers = 2
	}
	dir, err := os.MkdirTemp(parent, "bigload-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("files in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	model := filepath.Join(dir, "model.onnx")
	start := time.Now()
	keptSum, err := generate(model, dim, layers)
	if err != nil {
		return err
	}
	total := int64(layers) * layerBytes
	kept := int64(layers-1) * layerBytes
	fmt.Printf("generated %d layers of %dx%d float32: %s of external weights in %.1fs\n",
		layers, dim, dim, gibs(total), time.Since(start).Seconds())

	self, err := os.Executable()
	if err != nil {
		return err
	}
	at := fmt.Sprintf("relu%d", layers-2)
	for _, mode := range []string{"truncate", "decode"} {
		out := filepath.Join(dir, mode+".onnx")
		cmd := exec.Command(self, "-child", mode, model, at, out)
		cmd.Stderr = os.Stderr
		report, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("child: %w", err)
		}
		fmt.Print(string(report))
		hwm, err := strconv.ParseInt(strings.Fields(lastLine(report))[1], 10, 64)
		if err != nil {
			return fmt.Errorf("child report %q: %w", report, err)
		}
		maxrss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // KiB on Linux
		fmt.Printf("%s: peak RSS: VmHWM %s, ru_maxrss %s; weights %s loaded, %s kept and saved\n",
			mode, gibs(hwm), gibs(maxrss), gibs(total), gibs(kept))
		fmt.Printf("%s: ratio %.3f of the loaded weights, %.3f of the kept ones (goal <= 1.2)\n",
			mode, float64(hwm)/float64(total), float64(hwm)/float64(kept))
		got, err := fileSHA256(filepath.Join(dir, outSide))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, keptSum) {
			return fmt.Errorf("%s: the saved side file's SHA-256 is %x, want %x (the kept weights)", mode, got, keptSum)
		}
		fmt.Printf("%s: saved side file holds exactly the kept weights (SHA-256 %s…)\n", mode, hex.EncodeToString(got[:8]))
		if err := os.Remove(filepath.Join(dir, outSide)); err != nil {
			return err
		}
	}
	return nil
}

// runChild loads model, truncates it at args[0], saves it to args[1]
// with external data, and prints timings and then "VmHWM <bytes>". In
// mode "decode" it first decodes every initializer (Tensor.Dense), as
// running the model would.
func runChild(mode, model string, args []string) error {
	if len(args) != 2 {
		return errors.New("-child MODE MODEL AT OUT")
	}
	t0 := time.Now()
	m, err := onnx.Load(model)
	if err != nil {
		return err
	}
	t1 := time.Now()
	loadHWM, err := vmHWM()
	if err != nil {
		return err
	}
	if mode == "decode" {
		for _, v := range m.Graph.Initializers {
			if _, err := v.Const.Dense(); err != nil {
				return err
			}
		}
	}
	if err := surgery.Truncate(m, args[0]); err != nil {
		return err
	}
	t2 := time.Now()
	if err := m.SaveWith(args[1], onnx.SaveOptions{ExternalData: outSide, ExternalThreshold: 1024}); err != nil {
		return err
	}
	t3 := time.Now()
	fmt.Printf("%s child: load %.2fs, (decode and) truncate %.2fs, save %.2fs; VmHWM after loading %s\n",
		mode, t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), t3.Sub(t2).Seconds(), gibs(loadHWM))
	hwm, err := vmHWM()
	if err != nil {
		return err
	}
	fmt.Printf("VmHWM %d\n", hwm)
	return nil
}

// vmHWM reads the process's peak resident set from /proc/self/status.
func vmHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// generate writes model (MatMul→Relu per layer, x: [1, dim]) and its side
// file, and returns the SHA-256 of all weights but the last layer's, which
// is what the truncated model's side file must hold.
func generate(model string, dim, layers int) ([]byte, error) {
	dir := filepath.Dir(model)
	f, err := os.Create(filepath.Join(dir, sideName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 4<<20)
	kept := sha256.New()
	layerBytes := int64(dim) * int64(dim) * 4
	row := make([]byte, 4*dim)
	state := uint64(0x9e3779b97f4a7c15)
	for l := range layers {
		to := io.Writer(w)
		if l < layers-1 {
			to = io.MultiWriter(w, kept)
		}
		for range dim {
			for i := range dim {
				// xorshift64*: values in [-1, 1)/sqrt(dim), so that
				// activations stay finite if anyone runs the model.
				state ^= state >> 12
				state ^= state << 25
				state ^= state >> 27
				u := float64((state*0x2545f4914f6cdd1d)>>11) / (1 << 53)
				binary.LittleEndian.PutUint32(row[4*i:], math.Float32bits(float32((2*u-1)/math.Sqrt(float64(dim)))))
			}
			if _, err := to.Write(row); err != nil {
				return nil, err
			}
		}
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}

	var graph []byte
	graph = protowire.AppendTag(graph, 2, protowire.BytesType) // name
	graph = protowire.AppendString(graph, "bigload")
	prev := "x"
	for l := range layers {
		wname, mm, relu := fmt.Sprintf("w%d", l), fmt.Sprintf("matmul%d", l), fmt.Sprintf("relu%d", l)
		graph = appendMessage(graph, 1, node("MatMul", mm, []string{prev, wname}, mm+"_out"))
		graph = appendMessage(graph, 1, node("Relu", relu, []string{mm + "_out"}, relu))
		graph = appendMessage(graph, 5, externalTensor(wname, dim, int64(l)*layerBytes, layerBytes))
		prev = relu
	}
	graph = appendMessage(graph, 11, valueInfo("x", dim))
	graph = appendMessage(graph, 12, valueInfo(prev, dim))

	var opset []byte
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, 17)
	var mp []byte
	mp = protowire.AppendTag(mp, 1, protowire.VarintType) // ir_version
	mp = protowire.AppendVarint(mp, 8)
	mp = appendMessage(mp, 8, opset)
	mp = appendMessage(mp, 7, graph)
	return kept.Sum(nil), os.WriteFile(model, mp, 0o644)
}

func appendMessage(b []byte, field protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendString(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// node encodes a NodeProto (input 1, output 2, name 3, op_type 4).
func node(op, name string, inputs []string, output string) []byte {
	var b []byte
	for _, in := range inputs {
		b = appendString(b, 1, in)
	}
	b = appendString(b, 2, output)
	b = appendString(b, 3, name)
	return appendString(b, 4, op)
}

// externalTensor encodes a float32 [dim, dim] TensorProto whose data is
// in the side file at offset (dims 1, data_type 2, name 8,
// external_data 13, data_location 14 = EXTERNAL).
func externalTensor(name string, dim int, offset, length int64) []byte {
	var b []byte
	for range 2 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(dim))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, 1) // FLOAT
	b = appendString(b, 8, name)
	for _, kv := range [][2]string{{"location", sideName}, {"offset", strconv.FormatInt(offset, 10)}, {"length", strconv.FormatInt(length, 10)}} {
		var e []byte
		e = appendString(e, 1, kv[0])
		e = appendString(e, 2, kv[1])
		b = appendMessage(b, 13, e)
	}
	b = protowire.AppendTag(b, 14, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

// valueInfo encodes a ValueInfoProto of type float32 [1, dim].
func valueInfo(name string, dim int) []byte {
	var shape []byte
	for _, d := range []int{1, dim} {
		var dp []byte
		dp = protowire.AppendTag(dp, 1, protowire.VarintType)
		dp = protowire.AppendVarint(dp, uint64(d))
		shape = appendMessage(shape, 1, dp)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, 1) // FLOAT
	tt = appendMessage(tt, 2, shape)
	typ := appendMessage(nil, 1, tt)
	b := appendString(nil, 1, name)
	return appendMessage(b, 2, typ)
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func gibs(n int64) string { return fmt.Sprintf("%.3f GiB", float64(n)/(1<<30)) }

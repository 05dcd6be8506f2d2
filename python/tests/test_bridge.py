"""Tests of the graft Python bridge against the graft binary.

Run from the repository root (cmd/graft/serve_test.go does this in CI):

    GRAFT_BIN=/path/to/graft PYTHONPATH=python /usr/bin/python3 -m unittest discover -s python/tests -v

Fixtures come from $GRAFT_REPO/fixtures (default: this file's repository).
"""

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

import graft

REPO = os.environ.get("GRAFT_REPO") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "fixtures")
MLP = os.path.join(FIXTURES, "mlp")
MLP_MODEL = os.path.join(MLP, "model.onnx")


def setUpModule():
    graft.find_binary()  # fails every test with the binary-not-found message


def tearDownModule():
    graft.shutdown()


def mlp_input():
    return np.load(os.path.join(MLP, "input.npy"))


def rss_kib(pid):
    """Resident set size of a process in KiB (Linux /proc)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def graft_run(model, feed, outputs=()):
    """Run the graft CLI's `run` and return {file stem: array} of what it wrote."""
    with tempfile.TemporaryDirectory() as d:
        args = [graft.find_binary(), "run", model, "-o", os.path.join(d, "out")]
        for name, x in feed.items():
            path = os.path.join(d, name + ".in.npy")
            np.save(path, x)
            args += ["--input", "%s=%s" % (name, path)]
        for name in outputs:
            args += ["--value", name]
        subprocess.run(args, check=True, capture_output=True)
        return {os.path.basename(p)[:-4]: np.load(p) for p in glob.glob(os.path.join(d, "out", "*.npy"))}


def assert_identical(test, got, want, what):
    test.assertEqual(got.dtype, want.dtype, what)
    test.assertEqual(got.shape, want.shape, what)
    test.assertEqual(got.tobytes(), want.tobytes(), "%s: not bit-identical" % what)


class SessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = graft.Session(MLP_MODEL)
        cls.x = mlp_input()

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def test_inputs_and_outputs(self):
        [i] = self.s.get_inputs()
        [o] = self.s.get_outputs()
        self.assertEqual((i.name, i.shape, i.type, i.dtype), ("input", ["batch", 20], "tensor(float)", np.float32))
        self.assertEqual((o.name, o.shape, o.type), ("output", ["batch", 10], "tensor(float)"))

    def test_matches_graft_run(self):
        # The acceptance check: the same bits as the CLI's `graft run`.
        [y] = self.s.run(None, {"input": self.x})
        [want] = graft_run(MLP_MODEL, {"input": self.x}).values()
        assert_identical(self, y, want, "output")
        [fc1] = self.s.run(["fc1"], {"input": self.x})
        [want] = graft_run(MLP_MODEL, {"input": self.x}, ["fc1"]).values()
        assert_identical(self, fc1, want, "fc1")

    def test_matches_pytorch(self):
        # PyTorch's outputs recorded by fixtures/gen.py, to the manifest's
        # tolerance (float32 kernels summing in another order).
        with open(os.path.join(MLP, "manifest.json")) as f:
            manifest = json.load(f)
        [y] = self.s.run(None, {"input": self.x})
        np.testing.assert_allclose(y, np.load(os.path.join(MLP, "output.npy")), atol=manifest["tolerance"])

    def test_hidden_values_by_module_path(self):
        names = ["fc1", "relu1", "fc2", "relu2"]
        got = self.s.run(names + ["output"], {"input": self.x})
        for name, value in zip(names, got):
            want = np.load(os.path.join(MLP, "hidden", name + ".npy"))
            np.testing.assert_allclose(value, want, atol=1e-4, err_msg=name)
        # The module path and the ONNX value name are the same value.
        [by_value] = self.s.run(["/fc1/Gemm_output_0"], {"input": self.x})
        assert_identical(self, got[0], by_value, "fc1 by value name")
        [y] = self.s.run(None, {"input": self.x})
        assert_identical(self, got[-1], y, "output alongside hidden values")

    def test_feed_hidden_value(self):
        relu1, y = self.s.run(["relu1", "output"], {"input": self.x})
        [y2] = self.s.run(["output"], {"relu1": relu1})
        assert_identical(self, y2, y, "output from a fed relu1")
        [y3] = self.s.run(["output"], {"relu1": np.zeros_like(relu1)})
        self.assertFalse(np.array_equal(y3, y))

    def test_input_layouts(self):
        [y] = self.s.run(None, {"input": self.x})
        fortran = np.asfortranarray(self.x)
        strided = np.repeat(self.x, 2, axis=1)[:, ::2]
        big_endian = self.x.astype(">f4")
        for name, x in [("fortran", fortran), ("strided", strided), ("big_endian", big_endian)]:
            [got] = self.s.run(None, {"input": x})
            assert_identical(self, got, y, name)

    def test_outputs_are_writable_arrays(self):
        [y] = self.s.run(None, {"input": self.x})
        y += 1  # a view of a read-only buffer would raise here
        self.assertTrue(y.flags.writeable and y.flags.aligned)

    def test_batch_sizes(self):
        for n in (1, 2, 7):
            x = np.random.default_rng(n).standard_normal((n, 20)).astype(np.float32)
            [y] = self.s.run(None, {"input": x})
            self.assertEqual(y.shape, (n, 10))

    def test_errors_carry_go_messages(self):
        cases = [
            (["fc9"], {"input": self.x}, "not_found", 'layer "fc9": not found; closest: "fc1"'),
            (None, {"inptu": self.x}, "not_found", 'closest: "input"'),
            (None, {"input": self.x.astype(np.float64)}, "error", "got float64, model expects float32"),
            (None, {"input": self.x[:, :5]}, "error", "dim 1 differs"),
            (None, {}, "error", 'supply graph input "input"'),
        ]
        for outputs, feed, kind, message in cases:
            with self.assertRaises(graft.GraftError) as cm:
                self.s.run(outputs, feed)
            self.assertEqual(cm.exception.kind, kind)
            self.assertIn(message, str(cm.exception))
        # The session goes on working after errors.
        self.s.run(None, {"input": self.x})

    def test_argument_types(self):
        with self.assertRaises(TypeError):
            self.s.run("output", {"input": self.x})
        with self.assertRaises(TypeError):
            self.s.run(None, [self.x])
        with self.assertRaises(TypeError):
            self.s.run(None, {"input": np.array(["a"], dtype=object)})


class ProcessTest(unittest.TestCase):
    def test_model_as_bytes(self):
        with open(MLP_MODEL, "rb") as f:
            data = f.read()
        with graft.Session(data) as s, graft.Session(MLP_MODEL) as t:
            x = mlp_input()
            assert_identical(self, s.run(None, {"input": x})[0], t.run(None, {"input": x})[0], "from bytes")

    def test_close_ends_the_process(self):
        s = graft.Session(MLP_MODEL)
        proc = s._server._proc
        s.close()
        self.assertIsNotNone(proc.poll(), "graft serve still running after close")
        with self.assertRaises(graft.GraftError):
            s.run(None, {"input": mlp_input()})
        s.close()  # idempotent

    def test_garbage_collection_ends_the_process(self):
        s = graft.Session(MLP_MODEL)
        proc = s._server._proc
        del s
        import gc
        gc.collect()
        self.assertIsNotNone(proc.poll(), "graft serve still running after the Session was collected")

    def test_restarts_after_the_process_dies(self):
        with graft.Session(MLP_MODEL) as s:
            x = mlp_input()
            [want] = s.run(None, {"input": x})
            pid = s._server.pid
            os.kill(pid, signal.SIGKILL)
            s._server._proc.wait()
            with self.assertRaises(graft.GraftError) as cm:
                s._server.call("hello")
            self.assertEqual(cm.exception.kind, "process")
            [got] = s.run(None, {"input": x})  # a new process, the model reloaded
            assert_identical(self, got, want, "after a restart")
            self.assertNotEqual(s._server.pid, pid)

    def test_binary_not_found(self):
        with self.assertRaises(graft.GraftNotFoundError) as cm:
            graft.Session(MLP_MODEL, binary="/nonexistent/graft")
        self.assertIn("/nonexistent/graft is not an executable file", str(cm.exception))
        env = dict(os.environ, PATH="/nonexistent")
        env.pop("GRAFT_BIN", None)
        code = "import graft\ntry:\n    graft.Session(%r)\nexcept graft.GraftNotFoundError as e:\n    print(e)\n" % MLP_MODEL
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
        self.assertIn("set GRAFT_BIN", out)

    def test_missing_model_file(self):
        with self.assertRaises(FileNotFoundError):
            graft.Session(os.path.join(MLP, "nope.onnx"))


class FunctionsTest(unittest.TestCase):
    def test_truncate(self):
        data = graft.truncate(MLP_MODEL, "fc2")
        self.assertIsInstance(data, bytes)
        x = mlp_input()
        with graft.Session(data) as cut, graft.Session(MLP_MODEL) as full:
            self.assertEqual(len(cut.get_outputs()), 1)
            [got] = cut.run(None, {"input": x})
            [want] = full.run(["fc2"], {"input": x})
            assert_identical(self, got, want, "truncated at fc2")
        with self.assertRaises(graft.GraftError) as cm:
            graft.truncate(MLP_MODEL, ["fc7"])
        self.assertEqual(cm.exception.kind, "not_found")

    def test_stitch_identity(self):
        # A model stitched to itself at the same layer computes the same
        # function with the same kernels in the same order.
        with open(MLP_MODEL, "rb") as f:
            b = f.read()
        data = graft.stitch(MLP_MODEL, "relu1", b, "relu1")
        x = mlp_input()
        with graft.Session(data) as st, graft.Session(MLP_MODEL) as orig:
            assert_identical(self, st.run(None, {"input": x})[0], orig.run(None, {"input": x})[0], "stitched")

    def test_ntk(self):
        # functorch's float64 kernels from fixtures/gen_ntk.py; graft
        # computes in float32, so 1e-4 of the largest entry (ntk's bar).
        d = os.path.join(FIXTURES, "ntk", "mlp")
        x = np.load(os.path.join(d, "x.npy"))
        k, comps = graft.ntk(os.path.join(d, "model.onnx"), x, components=True)
        want = np.load(os.path.join(d, "trace.npy"))
        self.assertEqual(k.dtype, np.float64)
        self.assertLess(np.abs(k - want).max(), 1e-4 * np.abs(want).max())
        self.assertTrue(comps)
        np.testing.assert_allclose(sum(comps.values()), k, rtol=1e-9, atol=1e-12 * np.abs(k).max())
        full = graft.ntk(os.path.join(d, "model.onnx"), x, mode="full")
        want = np.load(os.path.join(d, "full.npy"))
        self.assertLess(np.abs(full - want).max(), 1e-4 * np.abs(want).max())

    def test_eval(self):
        # Labels set to A's own top-1 classes from PyTorch's logits: top-1
        # is then exactly 1, and agreement with B PyTorch's agreement.
        d = os.path.join(FIXTURES, "fmnist")
        x = np.load(os.path.join(d, "input8.npy"))
        la, lb = np.load(os.path.join(d, "logits_a.npy")), np.load(os.path.join(d, "logits_b.npy"))
        labels = la.argmax(1)
        r = graft.eval(os.path.join(d, "a.onnx"), x, labels, compare=os.path.join(d, "b.onnx"))
        self.assertEqual(r["samples"], len(x))
        self.assertEqual(r["top1"], 1.0)
        self.assertEqual(r["agreement"], float(np.mean(labels == lb.argmax(1))))
        r = graft.eval(os.path.join(d, "a.onnx"), x)
        self.assertIsNone(r["top1"])

    def test_fit(self):
        # The Fashion-MNIST pair stitched at pool2 with a least-squares
        # adapter fitted on the 2,000 training images, then scored on the
        # 1,000 test images: PyTorch's stitch with its own least-squares
        # adapter scores 0.903 (fitting's tests). The inputs are normalised
        # here in float32 numpy rather than by graft's reader, so a few
        # borderline samples may flip: within 3 of 1,000.
        d = os.path.join(FIXTURES, "fmnist")
        a, b = os.path.join(d, "a.onnx"), os.path.join(d, "b.onnx")
        train = fmnist_images(os.path.join(d, "train-images-2k-idx3-ubyte.gz"))
        test = fmnist_images(os.path.join(d, "t10k-images-1k-idx3-ubyte.gz"))
        labels = idx(os.path.join(d, "t10k-labels-1k-idx1-ubyte.gz")).astype(np.int64)
        stitched, rep = graft.fit(a, "pool2", b, "pool2", train, report=True)
        self.assertEqual((rep["samples"], rep["rows"], rep["in"], rep["out"]), (2000, 2000 * 49, 64, 64))
        self.assertGreater(rep["r2"], 0.5)
        r = graft.eval(stitched, test, labels)
        self.assertLessEqual(abs(r["top1"] - 0.903), 0.003, r)
        adapter = graft.fit(a, "pool2", b, "pool2", train[:200], method="lowrank:8", adapter_only=True)
        with graft.Session(adapter) as s:
            self.assertEqual(len(s.get_inputs()), 1)
            self.assertEqual(len(s.get_outputs()), 1)
        with self.assertRaises(graft.GraftError) as cm:
            graft.fit(a, "pool2", b, "pool2", train[:10], method="cubic")
        self.assertIn('"cubic"', str(cm.exception))


def idx(path):
    """Read an IDX file (gzip): the MNIST format."""
    import gzip
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fmnist_images(path):
    """Fashion-MNIST images as the fixture's models take them (fmnist.json)."""
    x = idx(path).astype(np.float32)[:, None] / np.float32(255)
    return (x - np.float32(0.286)) / np.float32(0.353)


class MemoryTest(unittest.TestCase):
    # Neither process may grow over 10,000 calls. The bound, 8 MiB, is
    # about what one allocator arena or a GC cycle's slack can hold, while
    # a leak of the smallest thing a call moves (an 80-byte output) would
    # add 10,000 × 80 B plus its headers, and of an input 10,000 × 160 B.
    CALLS = 10000
    BOUND_KIB = 8 * 1024

    def test_10000_calls(self):
        x = mlp_input()
        with graft.Session(MLP_MODEL) as s:
            for _ in range(1000):  # warm up both heaps
                s.run(None, {"input": x})
            pid = s._server.pid
            before = rss_kib(os.getpid()), rss_kib(pid)
            start = time.perf_counter()
            for _ in range(self.CALLS):
                s.run(None, {"input": x})
            per_call = (time.perf_counter() - start) / self.CALLS
            after = rss_kib(os.getpid()), rss_kib(pid)
        sys.stderr.write("\n%d calls: python RSS %d -> %d KiB, graft serve RSS %d -> %d KiB, %.1f us/call\n"
                         % (self.CALLS, before[0], after[0], before[1], after[1], per_call * 1e6))
        self.assertLess(after[0] - before[0], self.BOUND_KIB, "python process grew")
        self.assertLess(after[1] - before[1], self.BOUND_KIB, "graft serve grew")


if __name__ == "__main__":
    unittest.main()

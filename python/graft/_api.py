"""Session (like onnxruntime.InferenceSession) and graft's model functions."""

import atexit
import os
import threading

import numpy as np

from . import _frames
from ._server import GraftError, Server

# ONNX Runtime's spelling of element types, for NodeArg.type.
_ORT_TYPES = {
    "float32": "tensor(float)", "float64": "tensor(double)", "float16": "tensor(float16)",
    "bfloat16": "tensor(bfloat16)", "int8": "tensor(int8)", "int16": "tensor(int16)",
    "int32": "tensor(int32)", "int64": "tensor(int64)", "uint8": "tensor(uint8)",
    "uint16": "tensor(uint16)", "uint32": "tensor(uint32)", "uint64": "tensor(uint64)",
    "bool": "tensor(bool)", "string": "tensor(string)",
}


class NodeArg:
    """A graph input or output: name, shape and type, as onnxruntime's NodeArg.

    shape holds each dim as an int, a symbol's name (str, like "batch"), or
    None when unknown; type is ONNX Runtime's spelling ("tensor(float)");
    dtype is the numpy dtype (None when numpy has none, as for bfloat16).
    """

    def __init__(self, info):
        self.name = info["name"]
        self.shape = info.get("shape")
        self.type = _ORT_TYPES.get(info["dtype"], "tensor(%s)" % info["dtype"])
        try:
            self.dtype = np.dtype(info["dtype"])
        except TypeError:
            self.dtype = None

    def __repr__(self):
        return "NodeArg(name=%r, type=%r, shape=%r)" % (self.name, self.type, self.shape)


def _model_blob(model, key, args, argname):
    """Put a model in a request: a path goes in args, bytes in a blob."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return [(key, [model])]
    if hasattr(model, "SerializeToString"):  # an onnx.ModelProto
        return [(key, [model.SerializeToString()])]
    if isinstance(model, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(model))
        if not os.path.isfile(path):
            raise FileNotFoundError("model %s: no such file" % path)
        args[argname] = path
        return []
    raise TypeError("%s: want a path, ONNX bytes or an onnx.ModelProto, got %s" % (argname, type(model).__name__))


class Session:
    """A model loaded and compiled once in its own `graft serve` process.

    Like onnxruntime.InferenceSession::

        s = graft.Session("fixtures/mlp/model.onnx")
        [y] = s.run(None, {"input": x})
        fc1, y = s.run(["fc1", "output"], {"input": x})   # hidden values too

    model is a path, ONNX bytes or an onnx.ModelProto. threads bounds the
    kernel threads (default: all cores); binary overrides $GRAFT_BIN. The
    process ends with close(), the with block, garbage collection, or exit.
    If a call is interrupted (Ctrl-C), the process is replaced and the model
    reloaded on the next call.
    """

    def __init__(self, model, threads=None, binary=None):
        self._args = {}
        self._blobs = _model_blob(model, "model", self._args, "path")
        if threads:
            self._args["threads"] = int(threads)
        self._binary = binary
        self._server = None
        self._start()

    def _start(self):
        self._server = Server(self._binary)
        info, _ = self._server.call("load", self._args, self._blobs)
        self._session = info["session"]
        self._inputs = [NodeArg(v) for v in info["inputs"]]
        self._outputs = [NodeArg(v) for v in info["outputs"]]

    def _live(self):
        if self._server is None:
            raise GraftError("the Session is closed", kind="process")
        if not self._server.alive:
            self._server.close()
            self._start()
        return self._server

    def get_inputs(self):
        """The graph inputs to feed (initializers excluded), as NodeArgs."""
        return list(self._inputs)

    def get_outputs(self):
        """The graph outputs, as NodeArgs."""
        return list(self._outputs)

    def run(self, output_names, input_feed, run_options=None):
        """Run the model; return one numpy array per output name.

        output_names: None for the graph outputs, or a list of names: graph
        outputs or any hidden value, by ONNX value name, node name or
        PyTorch module path ("fc1", "layer1.0.conv1"). input_feed: {name:
        array}; a name may also be a hidden value, which then replaces what
        the model would compute. Arrays are sent as they are (no dtype
        conversion: a float64 array for a float input is an error).
        run_options is accepted for onnxruntime compatibility and ignored.
        """
        if output_names is not None:
            if isinstance(output_names, str) or not all(isinstance(n, str) for n in output_names):
                raise TypeError("output_names must be None or a list of names, got %r" % (output_names,))
            output_names = list(output_names)
        if not isinstance(input_feed, dict):
            raise TypeError("input_feed must be a dict {input name: array}, got %s" % type(input_feed).__name__)
        blobs = []
        for name, value in input_feed.items():
            if not isinstance(name, str):
                raise TypeError("input_feed keys must be names (str), got %r" % (name,))
            blobs.append((name, _frames.npy_parts(value)))
        server = self._live()  # first: it may reload the model into a new session
        args = {"session": self._session}
        if output_names:
            args["outputs"] = output_names
        _, out = server.call("run", args, blobs)
        names = output_names or [o.name for o in self._outputs]
        return [_frames.read_npy(out[n]) for n in names]

    def close(self):
        """Free the compiled model and end the process (idempotent)."""
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_shared = None
_shared_lock = threading.Lock()


def _call(op, args, blobs):
    """Call op on the process shared by the module functions."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive:
            _shared = Server()
        server = _shared
    return server.call(op, args, blobs)


@atexit.register
def shutdown():
    """End the process the module functions share (they restart it on use)."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
            _shared = None


def truncate(model, at):
    """Make the named layers the model's outputs; return the ONNX bytes.

    at is a layer name or a list of them (value name, node name or module
    path such as "layer1"). Go: surgery.Truncate.
    """
    args = {"at": [at] if isinstance(at, str) else list(at)}
    blobs = _model_blob(model, "model", args, "path")
    _, out = _call("truncate", args, blobs)
    return bytes(out["model"])


def stitch(a, at, b, from_, adapter=None):
    """Join model a up to layer at, an adapter, and model b from layer from_.

    Returns the stitched model's ONNX bytes. adapter (a one-input,
    one-output model) defaults to the identity. Go: surgery.Stitch. To fit
    the adapter on data, see fit().
    """
    args = {"at": at, "from": from_}
    blobs = _model_blob(a, "a", args, "a") + _model_blob(b, "b", args, "b")
    if adapter is not None:
        blobs += _model_blob(adapter, "adapter", args, "adapter")
    _, out = _call("stitch", args, blobs)
    return bytes(out["model"])


def fit(a, at, b, from_, x, method="linear", kernel=None, ridge=0.0, no_bias=False, adapter_only=False,
        batch=None, threads=None, report=False):
    """Stitch a to b with an adapter fitted on the samples x; return ONNX bytes.

    The adapter maps A's activation at layer at to B's at layer from_, both
    computed on x (float32 samples for both models' input): method is
    "linear" (least squares), "lowrank:R", "procrustes" or
    "procrustes:unscaled"; kernel k fits a k x k conv between NCHW
    activations (resizing A's bilinearly when the sizes differ). Returns
    the stitched model, or with adapter_only=True the adapter alone; with
    report=True, (bytes, report dict) where the report holds r2,
    rel_residual, effective_rank, samples, rows, in and out. Go:
    fitting.Stitch (fitting.FitAdapter).
    """
    args = {"at": at, "from": from_, "method": method}
    if kernel:
        args["kernel"] = int(kernel)
    if ridge:
        args["ridge"] = float(ridge)
    if no_bias:
        args["no_bias"] = True
    if adapter_only:
        args["adapter_only"] = True
    if batch:
        args["batch"] = int(batch)
    if threads:
        args["threads"] = int(threads)
    blobs = _model_blob(a, "a", args, "a") + _model_blob(b, "b", args, "b") + [("x", _frames.npy_parts(x))]
    result, out = _call("fit", args, blobs)
    model = bytes(out["model"])
    if report:
        return model, {k: v for k, v in result.items() if k not in ("inputs", "outputs")}
    return model


def ntk(model, x, mode="trace", k=None, params=None, components=False, rows=None, cols=None,
        loss=None, labels=None, label_smoothing=0.0, chunk=0, threads=None):
    """The empirical neural tangent kernel of model over the samples x.

    mode: "trace" (N, N), "full" (N, N, K, K), or "output" with k for one
    output. params selects parameter tensors (names, globs or module paths;
    default all). rows/cols are (lo, hi) sample ranges for a block. With
    loss="ce" and labels, the task kernel of the cross-entropy loss.
    Returns the float64 kernel, or with components=True (kernel, {param:
    kernel}). Go: ntk.Compute.
    """
    args = {"mode": mode, "components": bool(components)}
    if mode == "output":
        if k is None:
            raise ValueError("mode='output' needs k, the output's index")
        args["k"] = int(k)
    if params:
        args["params"] = [params] if isinstance(params, str) else list(params)
    for key, r in (("rows", rows), ("cols", cols)):
        if r is not None:
            args[key] = [int(r[0]), int(r[1])]
    if loss:
        args["loss"] = loss
    if label_smoothing:
        args["label_smoothing"] = float(label_smoothing)
    if chunk:
        args["chunk"] = int(chunk)
    if threads:
        args["threads"] = int(threads)
    blobs = _model_blob(model, "model", args, "path") + [("x", _frames.npy_parts(x))]
    if labels is not None:
        blobs.append(("labels", _frames.npy_parts(np.asarray(labels))))
    result, out = _call("ntk", args, blobs)
    kernel = _frames.read_npy(out["kernel"])
    if not components:
        return kernel
    return kernel, {name: _frames.read_npy(out["components/" + name]) for name in result["components"]}


def eval(model, x, labels=None, compare=None, output=None, batch=None, threads=None):  # noqa: A001 (graft.eval, as the CLI)
    """Top-1 and top-5 accuracy of a classifier on float32 samples x.

    labels (one integer per sample) give the accuracies; compare (another
    model) gives the fraction of samples on which the two models' top-1
    predictions agree, which needs no labels. output names the logits
    (default: the first graph output). Returns {"samples", "top1", "top5",
    "agreement", "compare_top1"}, None where a figure does not apply.
    Go: eval.Accuracy.
    """
    args = {}
    if output:
        args["output"] = output
    if batch:
        args["batch"] = int(batch)
    if threads:
        args["threads"] = int(threads)
    blobs = _model_blob(model, "model", args, "path")
    if compare is not None:
        blobs += _model_blob(compare, "compare", args, "compare")
    blobs.append(("x", _frames.npy_parts(x)))
    if labels is not None:
        blobs.append(("labels", _frames.npy_parts(np.asarray(labels))))
    result, _ = _call("eval", args, blobs)
    return {key: result.get(key) for key in ("samples", "top1", "top5", "agreement", "compare_top1")}

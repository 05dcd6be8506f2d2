"""graft from Python: run, cut and stitch PyTorch-exported ONNX models.

A thin bridge (pure Python + NumPy) to the graft binary: every call goes to
one long-lived `graft serve --stdio` process over a small framed protocol
carrying .npy and ONNX bytes (see graft._frames and the Go package
github.com/graft-ml/graft/serve), so models are compiled once per Session.

    import graft, numpy as np
    s = graft.Session("fixtures/mlp/model.onnx")       # like onnxruntime.InferenceSession
    x = np.load("fixtures/mlp/input.npy")
    [y] = s.run(None, {"input": x})                     # the graph outputs
    fc1, y = s.run(["fc1", "output"], {"input": x})     # hidden values by module path
    onnx_bytes = graft.truncate("fixtures/mlp/model.onnx", "fc2")

The binary is $GRAFT_BIN, else `graft` on PATH. Errors graft reports are
raised as graft.GraftError with Go's message.
"""

from ._api import NodeArg, Session, eval, fit, ntk, shutdown, stitch, truncate
from ._server import GraftError, GraftNotFoundError, Server, find_binary

__version__ = "0.1.0"

__all__ = ["Session", "NodeArg", "GraftError", "GraftNotFoundError", "Server", "find_binary",
           "truncate", "stitch", "fit", "ntk", "eval", "shutdown"]

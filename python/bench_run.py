"""Per-call time and memory of graft.Session.run on a tiny model.

    GRAFT_BIN=/path/to/graft PYTHONPATH=python /usr/bin/python3 python/bench_run.py [model.onnx] [--calls N]

Defaults to fixtures/mlp (20 -> 32 -> 32 -> 10, batch 2), the model of the Go
benchmark it is compared with:

    go test ./serve -run XXX -bench BenchmarkRun

whose "direct" case is the in-process Go call (exec.Program.Run) and
"protocol" the same request framed, served and decoded in-process. The
difference between this script's figure and "direct" is the bridge's
overhead per call. Also reports both processes' resident memory before and
after the timed calls.
"""

import argparse
import os
import time

import numpy as np

import graft

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=os.path.join(REPO, "fixtures", "mlp", "model.onnx"))
    ap.add_argument("--input", default=None, help=".npy input (default: the fixture's input.npy)")
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds; the best and median are reported")
    a = ap.parse_args()
    x = np.load(a.input or os.path.join(os.path.dirname(a.model), "input.npy"))
    with graft.Session(a.model) as s:
        feed = {s.get_inputs()[0].name: x}
        for _ in range(1000):
            s.run(None, feed)
        pid = s._server.pid
        before = rss_kib(os.getpid()), rss_kib(pid)
        times = []
        for _ in range(a.repeats):
            start = time.perf_counter()
            for _ in range(a.calls):
                s.run(None, feed)
            times.append((time.perf_counter() - start) / a.calls * 1e6)
        after = rss_kib(os.getpid()), rss_kib(pid)
    times.sort()
    print("graft.Session.run on %s, input %s %s: best %.1f us/call, median %.1f us/call (%d rounds of %d calls)"
          % (os.path.relpath(a.model), x.dtype, x.shape, times[0], times[len(times) // 2], a.repeats, a.calls))
    print("RSS over %d calls: python %d -> %d KiB (%+d), graft serve %d -> %d KiB (%+d)"
          % (a.repeats * a.calls, before[0], after[0], after[0] - before[0], before[1], after[1], after[1] - before[1]))


if __name__ == "__main__":
    main()

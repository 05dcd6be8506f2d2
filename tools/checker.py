"""Runs onnx.checker on ONNX files listed on stdin, one path per line.

For each path prints "ok PATH" or "fail PATH: reason". Used by graft's tests
to show that every model graft writes passes the official checker. Run with
Debian's /usr/bin/python3 (python3-onnx).
"""
import sys

import onnx

for line in sys.stdin:
    path = line.strip()
    if not path:
        continue
    try:
        # Check a loaded copy: given a path with full_check, this onnx
        # version writes inferred shapes back into the file.
        onnx.checker.check_model(onnx.load(path), full_check=True)
        print("ok", path, flush=True)
    except Exception as e:  # report every checker failure, whatever its type
        msg = str(e).replace("\n", " ")[:300]
        print("fail", path + ":", msg, flush=True)

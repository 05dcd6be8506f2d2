"""Frames of graft's serve protocol, and .npy blobs, in pure Python + NumPy.

The protocol is specified in the Go package github.com/graft-ml/graft/serve
(serve/doc.go); in short, every request and response is one frame::

    magic   4 bytes   b"GRF1"
    hlen    uint32    length of the JSON header
    nblobs  uint32    number of blobs
    blens   nblobs x uint64, each blob's length
    header  hlen bytes of JSON
    blobs   back to back

(all integers little-endian). A request header is {"op", "id", "args",
"blobs": [names]}; a response is {"id", "ok", "result", "blobs"} or {"id",
"ok": false, "error", "kind"}. Tensors travel as complete .npy files.
"""

import ast
import json
import re
import struct
import sys

import numpy as np

MAGIC = b"GRF1"
PROTOCOL = 1
MAX_HEADER = 1 << 20
MAX_BLOBS = 4096

# A .npy header as Go's tensor.WriteNPY writes it.
_HEADER = re.compile(r"\{'descr': '([^']+)', 'fortran_order': (True|False), 'shape': \(([0-9, ]*)\), \} *\n?$")

# The dtype kinds graft reads: bool, signed and unsigned integers, floats.
_KINDS = "biuf"


def npy_parts(array):
    """Return a list of buffers whose concatenation is array as a .npy file.

    The data buffer is a view of the array (no copy) when the array is
    already C-contiguous and little-endian.
    """
    a = np.asarray(array)
    if a.dtype.kind not in _KINDS or a.dtype.hasobject:
        raise TypeError("cannot send an array of dtype %s to graft: want bool, integer or float" % a.dtype)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and sys.byteorder == "big"):
        a = a.astype(a.dtype.newbyteorder("<"))
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a).reshape(a.shape)  # reshape keeps a 0-d array 0-d
    descr = np.lib.format.dtype_to_descr(a.dtype)
    shape = repr(tuple(int(d) for d in a.shape))  # (2, 20), (5,) or ()
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    # Pad so that magic (6) + version (2) + length (2) + header + newline is
    # a multiple of 64, as numpy does, so the data starts aligned.
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")
    return [head, a.reshape(-1).view(np.uint8).data]


def read_npy(buf):
    """Decode a .npy blob held in a bytearray without copying its data.

    The array is a writable view of buf (which it keeps alive).
    """
    mv = memoryview(buf)
    if len(mv) < 10 or bytes(mv[:6]) != b"\x93NUMPY":
        raise ValueError("graft sent a blob that is not a .npy file")
    major = mv[6]
    if major == 1:
        (hlen,), start = struct.unpack_from("<H", mv, 8), 10
    elif major in (2, 3):
        (hlen,), start = struct.unpack_from("<I", mv, 8), 12
    else:
        raise ValueError("graft sent a .npy blob of unknown version %d" % major)
    text = bytes(mv[start:start + hlen]).decode("latin1")
    m = _HEADER.match(text)
    if m:  # the header as graft writes it; parsed without ast (30 us a call)
        descr, fortran = m.group(1), m.group(2) == "True"
        shape = tuple(int(d) for d in m.group(3).split(",") if d.strip())
    else:
        header = ast.literal_eval(text)
        descr, fortran, shape = header["descr"], header["fortran_order"], tuple(header["shape"])
    if fortran:
        raise ValueError("graft sent a Fortran-order .npy blob")
    dtype = np.dtype(descr)
    count = 1
    for d in shape:
        count *= d
    offset = start + hlen
    if len(mv) - offset != count * dtype.itemsize:
        raise ValueError("graft sent a .npy blob of %d data bytes for %s%s" % (len(mv) - offset, dtype, shape))
    return np.frombuffer(buf, dtype=dtype, count=count, offset=offset).reshape(shape)


def encode_frame(header, blobs):
    """Return the bytes that open a frame: prefix and JSON header.

    blobs is a list of blobs, each a list of buffers; they follow the
    returned bytes. Raises ValueError, before anything is written, for a
    frame over the protocol's limits.
    """
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if len(h) > MAX_HEADER:
        raise ValueError("request header of %d bytes is over the limit of %d" % (len(h), MAX_HEADER))
    if len(blobs) > MAX_BLOBS:
        raise ValueError("%d blobs are over the limit of %d" % (len(blobs), MAX_BLOBS))
    lens = [sum(memoryview(p).nbytes for p in parts) for parts in blobs]
    return struct.pack("<4sII%dQ" % len(lens), MAGIC, len(h), len(lens), *lens) + h


def write_frame(w, head, blobs):
    """Write a frame opened by head (from encode_frame) and flush."""
    w.write(head)
    for parts in blobs:
        for p in parts:
            w.write(p)
    w.flush()


class ProtocolError(Exception):
    """The stream from graft cannot be read as frames."""


def _read_exact(r, n):
    """Read exactly n bytes into a new bytearray."""
    buf = bytearray(n)
    mv = memoryview(buf)
    got = 0
    while got < n:
        k = r.readinto(mv[got:])
        if not k:
            raise EOFError("graft's output ended after %d of %d bytes" % (got, n))
        got += k
    return buf


def read_frame(r):
    """Read one frame; return (header dict, list of bytearray blobs)."""
    pre = _read_exact(r, 12)
    magic, hlen, nblobs = struct.unpack("<4sII", pre)
    if magic != MAGIC:
        raise ProtocolError("graft answered with %r instead of a frame (%r): is GRAFT_BIN a graft binary of protocol %d?"
                            % (bytes(pre), MAGIC, PROTOCOL))
    if hlen > MAX_HEADER or nblobs > MAX_BLOBS:
        raise ProtocolError("graft sent a frame with a %d-byte header and %d blobs, over the limits" % (hlen, nblobs))
    lens = struct.unpack("<%dQ" % nblobs, _read_exact(r, 8 * nblobs)) if nblobs else ()
    header = json.loads(bytes(_read_exact(r, hlen)).decode("utf-8"))
    blobs = [_read_exact(r, n) for n in lens]
    return header, blobs

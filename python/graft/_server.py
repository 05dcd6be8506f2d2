"""The long-lived `graft serve --stdio` process and the calls made to it."""

import collections
import os
import shutil
import subprocess
import threading
import weakref

from . import _frames


class GraftError(RuntimeError):
    """An error reported by graft, with Go's message.

    kind says what went wrong: "not_found" (a layer, value or session name
    that does not resolve; the message lists the closest names),
    "unsupported" (an op graft cannot run), "bad_request", "error", or
    "internal" (a bug in graft), and "process" when the graft process itself
    failed or died.
    """

    def __init__(self, message, kind="error", op=None):
        super().__init__(message)
        self.kind = kind
        self.op = op


class GraftNotFoundError(GraftError, FileNotFoundError):
    """The graft binary is neither at $GRAFT_BIN nor on PATH."""

    def __init__(self, message):
        GraftError.__init__(self, message, kind="process")


def find_binary(explicit=None):
    """Return the graft executable: explicit, else $GRAFT_BIN, else PATH."""
    path = explicit or os.environ.get("GRAFT_BIN")
    if path:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        source = "binary=" if explicit else "GRAFT_BIN="
        raise GraftNotFoundError("%s%s is not an executable file: point it at the graft binary "
                                 "(build one with `make install` or `go install ./cmd/graft`)" % (source, path))
    found = shutil.which("graft")
    if found:
        return found
    raise GraftNotFoundError("cannot find the graft binary: set GRAFT_BIN to its path, or put it on PATH "
                             "(from the repository: `make install`, or `go install ./cmd/graft`)")


def _stop(proc, stdin, done):
    """Close graft's stdin (it exits at end of input), wait, then kill."""
    if done[0]:
        return
    done[0] = True
    try:
        stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for f in (proc.stdout, proc.stderr):
        try:
            f.close()
        except OSError:
            pass


class Server:
    """One `graft serve --stdio` process. Calls are serialised by a lock.

    The process ends when close() is called, when the Server is garbage
    collected, or when Python exits.
    """

    def __init__(self, binary=None, threads=None):
        exe = find_binary(binary)
        args = [exe, "serve", "--stdio"]
        if threads:
            args += ["--threads", str(int(threads))]
        self._proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # Its own session, so that Ctrl-C in a terminal or notebook
            # interrupts Python's call without killing graft mid-frame.
            start_new_session=(os.name == "posix"))
        self._lock = threading.Lock()
        self._id = 0
        self._broken = None  # why calls can no longer be made
        self._done = [False]
        self._stderr = collections.deque(maxlen=50)
        t = threading.Thread(target=self._drain, args=(self._proc.stderr, self._stderr), daemon=True)
        t.start()
        self._finalizer = weakref.finalize(self, _stop, self._proc, self._proc.stdin, self._done)
        hello, _ = self.call("hello")
        if hello.get("protocol") != _frames.PROTOCOL:
            self.close()
            raise GraftError("%s speaks protocol %r, this Python package %d: rebuild one or the other"
                             % (exe, hello.get("protocol"), _frames.PROTOCOL), kind="process")
        self.version = hello.get("version")
        self.binary = exe

    @staticmethod
    def _drain(f, tail):
        # Keeps the last lines graft wrote to stderr for error messages.
        for line in iter(f.readline, b""):
            tail.append(line.decode("utf-8", "replace").rstrip("\n"))

    @property
    def pid(self):
        return self._proc.pid

    @property
    def alive(self):
        return self._broken is None and self._proc.poll() is None

    def _died(self, what):
        code = self._proc.poll()
        if code is None:
            try:
                code = self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = "still running"
        tail = "\n".join(self._stderr)
        msg = "graft serve (pid %d) %s (exit status %s)" % (self._proc.pid, what, code)
        if tail:
            msg += "; its stderr ends:\n" + tail
        return GraftError(msg, kind="process")

    def call(self, op, args=None, blobs=()):
        """Send one request; return (result, {blob name: bytearray}).

        blobs is a sequence of (name, [buffers]) pairs. Raises GraftError
        with Go's message when graft reports an error.
        """
        with self._lock:
            if self._broken is not None:
                raise GraftError("graft serve can no longer be used: %s" % self._broken, kind="process", op=op)
            self._id += 1
            header = {"op": op, "id": self._id, "blobs": [name for name, _ in blobs]}
            if args:
                header["args"] = args
            parts = [p for _, p in blobs]
            head = _frames.encode_frame(header, parts)  # ValueError before anything is sent
            try:
                _frames.write_frame(self._proc.stdin, head, parts)
                resp, out = _frames.read_frame(self._proc.stdout)
            except (EOFError, OSError) as e:  # BrokenPipeError is an OSError
                self._broken = "it exited"
                self.close()
                raise self._died("exited during %s" % op) from e
            except BaseException as e:
                # KeyboardInterrupt or a protocol error: the stream is out
                # of step, so this process cannot be used again.
                self._broken = "a call was interrupted (%s)" % type(e).__name__
                self.close()
                raise
            if resp.get("id") != self._id:
                self._broken = "answers out of step"
                self.close()
                raise GraftError("graft answered request %r to request %d" % (resp.get("id"), self._id), kind="process", op=op)
        if not resp.get("ok"):
            raise GraftError(resp.get("error", "unknown error"), kind=resp.get("kind", "error"), op=op)
        names = resp.get("blobs") or []
        return resp.get("result") or {}, dict(zip(names, out))

    def close(self):
        """End the process (idempotent)."""
        if self._broken is None:
            self._broken = "it was closed"
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

package serve

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic opens every frame: "GRF" and the protocol version.
const Magic = "GRF1"

// Protocol is the protocol version that hello reports.
const Protocol = 1

// Limits on one frame. A header is a small JSON object; blobs carry the
// tensors and models, so their size is bounded by MaxBlobBytes only.
const (
	MaxHeader = 1 << 20
	MaxBlobs  = 4096
	// MaxBlobBytes bounds one blob (64 GiB): far beyond a real tensor, and
	// small enough that lengths cannot overflow. Memory is not reserved up
	// front; see readBlob.
	MaxBlobBytes = 1 << 36
)

// FrameError reports a stream that cannot be read as frames: the peer is
// not speaking this protocol, or the stream ended inside a frame. The
// stream is out of step afterwards, so Serve stops.
type FrameError struct {
	Msg string
	Err error // the underlying read error, if any
}

func (e *FrameError) Error() string {
	if e.Err != nil {
		return "serve: bad frame: " + e.Msg + ": " + e.Err.Error()
	}
	return "serve: bad frame: " + e.Msg
}

func (e *FrameError) Unwrap() error { return e.Err }

// Frame is one decoded frame: a JSON header and its blobs.
type Frame struct {
	Header []byte
	Blobs  [][]byte
}

// ReadFrame reads one frame from r. At a clean end of the stream, before
// the first byte of a frame, it returns io.EOF; anything else that stops
// it is a *FrameError.
func ReadFrame(r io.Reader) (Frame, error) {
	var pre [12]byte
	n, err := io.ReadFull(r, pre[:])
	switch {
	case n == 0 && err == io.EOF:
		return Frame{}, io.EOF
	case err != nil:
		return Frame{}, &FrameError{Msg: "reading the frame's prefix", Err: err}
	}
	if string(pre[:4]) != Magic {
		return Frame{}, &FrameError{Msg: fmt.Sprintf("magic %q, want %q (is the peer speaking graft's protocol version %d?)", pre[:4], Magic, Protocol)}
	}
	hlen := binary.LittleEndian.Uint32(pre[4:])
	nblobs := binary.LittleEndian.Uint32(pre[8:])
	if hlen > MaxHeader {
		return Frame{}, &FrameError{Msg: fmt.Sprintf("header of %d bytes is over the limit of %d", hlen, MaxHeader)}
	}
	if nblobs > MaxBlobs {
		return Frame{}, &FrameError{Msg: fmt.Sprintf("%d blobs are over the limit of %d", nblobs, MaxBlobs)}
	}
	lens := make([]uint64, nblobs)
	if err := binary.Read(r, binary.LittleEndian, lens); err != nil {
		return Frame{}, &FrameError{Msg: "reading the blob lengths", Err: noEOF(err)}
	}
	for i, l := range lens {
		if l > MaxBlobBytes {
			return Frame{}, &FrameError{Msg: fmt.Sprintf("blob %d of %d bytes is over the limit of %d", i, l, uint64(MaxBlobBytes))}
		}
	}
	f := Frame{Header: make([]byte, hlen), Blobs: make([][]byte, nblobs)}
	if _, err := io.ReadFull(r, f.Header); err != nil {
		return Frame{}, &FrameError{Msg: "reading the header", Err: noEOF(err)}
	}
	for i, l := range lens {
		if f.Blobs[i], err = readBlob(r, int64(l)); err != nil {
			return Frame{}, &FrameError{Msg: fmt.Sprintf("reading blob %d (%d bytes)", i, l), Err: noEOF(err)}
		}
	}
	return f, nil
}

// eagerBlob is the size up to which a blob's buffer is allocated at once;
// larger ones grow as bytes arrive, so a lying length fails at the end of
// the stream having allocated about what the stream held.
const eagerBlob = 64 << 20

func readBlob(r io.Reader, n int64) ([]byte, error) {
	if n <= eagerBlob {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	var buf bytes.Buffer
	buf.Grow(eagerBlob)
	got, err := io.Copy(&buf, io.LimitReader(r, n))
	if err != nil {
		return nil, err
	}
	if got != n {
		return nil, io.ErrUnexpectedEOF
	}
	return buf.Bytes(), nil
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteFrame writes one frame to w. It does not flush a buffered w.
func WriteFrame(w io.Writer, header []byte, blobs [][]byte) error {
	if len(header) > MaxHeader {
		return fmt.Errorf("serve: header of %d bytes is over the limit of %d", len(header), MaxHeader)
	}
	if len(blobs) > MaxBlobs {
		return fmt.Errorf("serve: %d blobs are over the limit of %d", len(blobs), MaxBlobs)
	}
	pre := make([]byte, 12+8*len(blobs))
	copy(pre, Magic)
	binary.LittleEndian.PutUint32(pre[4:], uint32(len(header)))
	binary.LittleEndian.PutUint32(pre[8:], uint32(len(blobs)))
	for i, b := range blobs {
		if int64(len(b)) > MaxBlobBytes {
			return fmt.Errorf("serve: blob %d of %d bytes is over the limit of %d", i, len(b), int64(MaxBlobBytes))
		}
		binary.LittleEndian.PutUint64(pre[12+8*i:], uint64(len(b)))
	}
	if _, err := w.Write(pre); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, b := range blobs {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

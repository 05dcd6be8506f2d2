package tensor

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WriteFileAtomic writes a file through a temporary file in the same
// directory, renamed into place only when write returns nil, so that a
// failed write never leaves a partial file at path. Beyond that:
//
//   - a symbolic link at path is written through: its target is replaced
//     and the link kept;
//   - an existing file keeps its permission bits (a private 0600 model
//     stays private); a new one gets 0644 less the umask;
//   - the temporary file, ".NAME.graft-tmp-RANDOM", is locked while it is
//     written; one left by a killed process holds no lock, and the next
//     write into the folder removes it (where locks exist: Unix).
func WriteFileAtomic(path string, write func(io.Writer) error) (err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	} else if link, lerr := os.Readlink(path); lerr == nil {
		// A dangling link: write the file it names.
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStaleTemps(dir, base)
	perm := fs.FileMode(0o644) // less the umask, applied by open(2)
	keepMode := false
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		perm, keepMode = st.Mode().Perm(), true
	}
	f, err := createTemp(dir, base, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if keepMode {
		// open(2) masked the bits; the existing file's own stand.
		if err = f.Chmod(perm); err != nil {
			return err
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return f.Close() // closing drops the lock only once the file is in place
}

// tempMarker names graft's temporary files: "." + base + tempMarker + random.
const tempMarker = ".graft-tmp-"

// createTemp creates and locks a new temporary file for base in dir.
func createTemp(dir, base string, perm fs.FileMode) (*os.File, error) {
	for range 100 {
		var r [6]byte
		if _, err := rand.Read(r[:]); err != nil {
			return nil, err
		}
		name := filepath.Join(dir, "."+base+tempMarker+hex.EncodeToString(r[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		lockFile(f)
		return f, nil
	}
	return nil, errors.New("tensor: could not create a temporary file in " + dir)
}

// removeStaleTemps deletes the temporary files of earlier writes of base
// in dir that nobody holds locked: their writer died.
func removeStaleTemps(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + tempMarker
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if tryLockFile(f) {
			os.Remove(name)
		}
		f.Close()
	}
}

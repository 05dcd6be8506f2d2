package runlog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// folderContentLimit bounds how many bytes of a folder's files are read
// to hash it: an ImageNet-sized folder would otherwise take minutes.
// Past it, files count by name and size only.
const folderContentLimit = 1 << 30

// hashInput describes the file or folder at path; an error is recorded in
// the File rather than returned, since an unreadable input is a fact
// about the run, not a reason to stop it.
func hashInput(path string) File {
	f := File{Path: path}
	st, err := os.Stat(path)
	if err != nil {
		f.Error = err.Error()
		return f
	}
	if !st.IsDir() {
		f.Bytes = st.Size()
		if f.SHA256, err = hashFile(path); err != nil {
			f.Error = err.Error()
		}
		return f
	}
	if err := hashFolder(&f, path, folderContentLimit); err != nil {
		f.SHA256 = ""
		f.Error = err.Error()
	}
	return f
}

// hashFile is the hex SHA-256 of the file's contents.
func hashFile(path string) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashFolder fills f with the SHA-256 of one line per regular file under
// root, in lexical order: its slash-separated relative name, its size and
// the hex SHA-256 of its contents, or "-" once limit bytes of contents
// have been read (f.Partial is then set). Symbolic links to files count
// as the files.
func hashFolder(f *File, root string, limit int64) error {
	h := sha256.New()
	var read int64
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(path) // follows links
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		sum := "-"
		if read+st.Size() <= limit {
			if sum, err = hashFile(path); err != nil {
				return err
			}
			read += st.Size()
		} else {
			f.Partial = true
		}
		fmt.Fprintf(h, "%s\x00%d\x00%s\n", filepath.ToSlash(rel), st.Size(), sum)
		f.Files++
		f.Bytes += st.Size()
		return nil
	})
	if err != nil {
		return err
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

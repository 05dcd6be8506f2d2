package tensor

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func writeString(path, s string) error {
	return WriteFileAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

func TestWriteFileAtomicKeepsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private.onnx")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeString(path, "new"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after overwriting a 0600 file", st.Mode().Perm())
	}
	fresh := filepath.Join(filepath.Dir(path), "fresh.onnx")
	if err := writeString(fresh, "x"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm()&0o044 == 0 && st.Mode().Perm() != 0o600 {
		t.Errorf("new file has mode %v", st.Mode().Perm())
	}
}

func TestWriteFileAtomicThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "models", "real.onnx")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.onnx")
	if err := os.Symlink(filepath.Join("models", "real.onnx"), link); err != nil {
		t.Skip(err)
	}
	if err := writeString(link, "new"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Errorf("target holds %q", b)
	}
}

// TestWriteFileAtomicAfterKill starts writers in child processes, kills
// them with SIGKILL in the middle of their writes, and expects the next
// write into the folder to leave no temporary file behind, and the
// destination untouched by the killed writes.
func TestWriteFileAtomicAfterKill(t *testing.T) {
	if path := os.Getenv("GRAFT_TEST_HOLD_WRITE"); path != "" {
		WriteFileAtomic(path, func(w io.Writer) error {
			w.Write(make([]byte, 1<<20))
			os.WriteFile(path+".ready", nil, 0o644)
			time.Sleep(time.Minute)
			return nil
		})
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := writeString(path, "good"); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestWriteFileAtomicAfterKill$")
		cmd.Env = append(os.Environ(), "GRAFT_TEST_HOLD_WRITE="+path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(path + ".ready"); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		os.Remove(path + ".ready")
	}
	if b, _ := os.ReadFile(path); string(b) != "good" {
		t.Fatalf("killed writes changed the file: %q", b)
	}
	// Each writer cleared the temporary file of the one killed before it.
	if n := temps(t, dir); n != 1 {
		t.Fatalf("%d temporary files after 30 kills; want the last one's", n)
	}
	if err := writeString(path, "better"); err != nil {
		t.Fatal(err)
	}
	if n := temps(t, dir); n != 0 {
		t.Errorf("%d temporary files left after the next write", n)
	}
}

func temps(t *testing.T, dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.Contains(e.Name(), tempMarker) {
			n++
		}
	}
	return n
}

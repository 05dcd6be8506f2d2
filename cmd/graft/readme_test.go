package main

import (
	"bufio"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runnableMark precedes every README code block that TestREADME runs.
const runnableMark = "<!-- runnable -->"

// readmeBlock is one indented code block of the README that is marked
// runnable, with the line it starts on for error messages.
type readmeBlock struct {
	line   int
	script string
}

// runnableBlocks returns the indented code blocks that follow a
// runnableMark line, with their four-space indent removed. A block ends
// at its first blank line, so that printed output can follow it.
func runnableBlocks(readme string) []readmeBlock {
	var blocks []readmeBlock
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != runnableMark {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		b := readmeBlock{line: j + 1}
		var body []string
		for ; j < len(lines) && strings.HasPrefix(lines[j], "    ") && strings.TrimSpace(lines[j]) != ""; j++ {
			body = append(body, strings.TrimPrefix(lines[j], "    "))
		}
		b.script = strings.TrimSpace(strings.Join(body, "\n"))
		if b.script != "" {
			blocks = append(blocks, b)
		}
		i = j - 1
	}
	return blocks
}

func TestRunnableBlocks(t *testing.T) {
	readme := "text\n\n" + runnableMark + "\n    graft a \\\n        --b\n    graft c\n\n    printed output\n\nprose\n\n    not marked\n" + runnableMark + "\n\n    graft d\n"
	got := runnableBlocks(readme)
	want := []readmeBlock{{4, "graft a \\\n    --b\ngraft c"}, {15, "graft d"}}
	if len(got) != len(want) {
		t.Fatalf("got %d blocks %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestREADME installs graft the way the README says (make install, into a
// temporary GOBIN), checks `graft --version`, runs every block the README
// marks runnable with that graft first on PATH, and checks that every
// relative link points at a file that exists. Outputs the blocks write to
// /tmp go to a temporary folder instead.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds graft and runs the README's examples; not in -short")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)

	checkLinks(t, root, readme)

	if _, err := osexec.LookPath("make"); err != nil {
		t.Fatal("make is not installed; .ci/run installs it")
	}
	bin := t.TempDir()
	install := osexec.Command("make", "install")
	install.Dir = root
	install.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	path := bin + string(os.PathListSeparator) + os.Getenv("PATH")
	env := append(os.Environ(), "PATH="+path, noRecordEnv+"=1")

	version := osexec.Command(filepath.Join(bin, "graft"), "--version")
	if out, err := version.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "graft ") {
		t.Errorf("graft --version: %v\n%s", err, out)
	}

	blocks := runnableBlocks(readme)
	if len(blocks) < 3 {
		t.Fatalf("found %d runnable blocks in README.md, want the quick tour's and the main job's", len(blocks))
	}
	tmp := t.TempDir()
	for _, b := range blocks {
		script := strings.ReplaceAll(b.script, "/tmp/", tmp+"/")
		cmd := osexec.Command("bash", "-e", "-o", "pipefail", "-c", script)
		cmd.Dir = root
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("README.md line %d: %v\n%s\n--- output:\n%s", b.line, err, b.script, out)
		}
	}
}

// markdownLink matches [text](target) and captures the target.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// checkLinks reports every relative link in readme whose file is missing.
func checkLinks(t *testing.T, root, readme string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		for _, m := range markdownLink.FindAllStringSubmatch(sc.Text(), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "#") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			if _, err := os.Stat(filepath.Join(root, target)); err != nil {
				t.Errorf("README.md line %d links %s, which does not exist", n, m[1])
			}
		}
	}
}

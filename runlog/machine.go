package runlog

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is graft's version, set when building a release with
// -ldflags "-X github.com/graft-ml/graft/runlog.Version=v1.2.3". Without it,
// runs record the main module's version from the build information (set
// by go install module@version), and otherwise "devel".
var Version string

// Build says which graft made a run.
type Build struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"` // VCS commit, when built from a checkout
	Modified bool   `json:"modified,omitempty"` // the checkout had uncommitted changes
	Go       string `json:"go"`
}

// Machine says where a run ran.
type Machine struct {
	Hostname string `json:"hostname"`
	PID      int    `json:"pid"`
	BootID   string `json:"boot_id,omitempty"` // Linux: tells a reused pid after a reboot from the run's own
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPU      string `json:"cpu,omitempty"`
	NumCPU   int    `json:"num_cpu"`
}

func build() Build {
	v := Build{Version: Version, Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

func machine() Machine {
	host, _ := os.Hostname()
	return Machine{
		Hostname: host,
		PID:      os.Getpid(),
		BootID:   bootID(),
		OS:       runtime.GOOS,
		Arch:     runtime.GOARCH,
		CPU:      CPUModel(),
		NumCPU:   runtime.NumCPU(),
	}
}

// CPUModel is the first "model name" of /proc/cpuinfo, or "" where there
// is none (other systems, some ARM kernels).
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// bootID identifies the current boot of a Linux kernel, "" elsewhere.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

//go:build !unix

package runlog

// alive cannot look processes up here, so every run is taken as alive and
// an unfinished one stays "running" rather than being called crashed.
func alive(pid int) bool { return true }

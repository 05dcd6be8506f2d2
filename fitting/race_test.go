//go:build race

package fitting_test

// raceEnabled is set under the race detector, which runs models about
// ten times slower: tests that run models then use fewer samples, enough
// for every goroutine path, and leave the comparisons with PyTorch on the
// full data to the run without it.
const raceEnabled = true

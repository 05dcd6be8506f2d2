//go:build race

package exec

// raceEnabled is true under the race detector, which drops sync.Pool
// objects at random, so that kernels allocate their scratch buffers again
// on many runs.
const raceEnabled = true

package tensor

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// ErrOverBudget is wrapped by the error a too-large allocation panics
// with (see SetMemoryBudget).
var ErrOverBudget = errors.New("over the memory budget")

// AllocError describes a tensor that was not allocated: its shape asked
// for more than the memory budget (or more elements than can be counted).
// New and NewUninit panic with it; exec turns the panic into an error
// naming the node, and the command line into exit code 4.
type AllocError struct {
	DType  DType
	Shape  []int
	Bytes  int64 // 0 when the element count overflows
	Budget int64
	Err    error // ErrOverBudget or ErrTooLarge
}

func (e *AllocError) Error() string {
	if e.Bytes == 0 {
		return fmt.Sprintf("tensor %s%v: %v", e.DType, e.Shape, e.Err)
	}
	return fmt.Sprintf("tensor %s%v needs %s, %v of %s (the environment variable GRAFT_MAX_MEMORY changes it)",
		e.DType, e.Shape, byteSize(e.Bytes), e.Err, byteSize(e.Budget))
}

func (e *AllocError) Unwrap() error { return e.Err }

var budget atomic.Int64

func init() { budget.Store(defaultBudget()) }

// SetMemoryBudget sets the largest tensor, in bytes, that New and
// NewUninit allocate; b <= 0 removes the limit. The default is
// GRAFT_MAX_MEMORY (bytes, or with a K, M, G or T suffix) when set, and
// otherwise 80 % of the machine's physical memory: an allocation the
// machine cannot hold is a clear error instead of Go's fatal "out of
// memory", which no recover can catch.
func SetMemoryBudget(b int64) {
	if b <= 0 {
		b = math.MaxInt64
	}
	budget.Store(b)
}

// MemoryBudget returns the current budget in bytes.
func MemoryBudget() int64 { return budget.Load() }

// ParseBytes reads a size such as 512M, 8G or 1073741824.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for i, suf := range []string{"K", "M", "G", "T"} {
		if t, ok := strings.CutSuffix(strings.TrimSuffix(s, "B"), suf); ok {
			s, mult = t, int64(1)<<(10*(i+1))
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(v > 0) || v*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, optionally with K, M, G or T", s)
	}
	return int64(v * float64(mult)), nil
}

func defaultBudget() int64 {
	if s := os.Getenv("GRAFT_MAX_MEMORY"); s != "" {
		if b, err := ParseBytes(s); err == nil {
			return b
		}
	}
	if total := physicalMemory(); total > 0 {
		return total / 5 * 4
	}
	return math.MaxInt64
}

// physicalMemory reads MemTotal from /proc/meminfo (0 where there is none).
func physicalMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// CheckAlloc returns the *AllocError New would panic with for a tensor of
// dt and shape, or nil when it may be allocated.
func CheckAlloc(dt DType, shape []int) error {
	n, err := NumElems(shape)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return &AllocError{DType: dt, Shape: append([]int(nil), shape...), Err: ErrTooLarge}
		}
		return err
	}
	size := int64(dt.Size())
	if size == 0 {
		size = 8
	}
	if storageOf(dt) == storeI64 {
		size = 8 // integers are stored as int64
	}
	if bytes := int64(n) * size; bytes > budget.Load() {
		return &AllocError{DType: dt, Shape: append([]int(nil), shape...), Bytes: bytes, Budget: budget.Load(), Err: ErrOverBudget}
	}
	return nil
}

func byteSize(b int64) string {
	switch {
	case b >= 1<<40:
		return fmt.Sprintf("%.1f TiB", float64(b)/(1<<40))
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", b)
}

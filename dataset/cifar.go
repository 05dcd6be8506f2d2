package dataset

import (
	"fmt"
	"os"
	"sort"
)

// openCIFAR reads CIFAR binary batches: records of one label byte
// (CIFAR-10; two, coarse then fine, for CIFAR-100) and 3×32×32 pixel
// bytes, channel-major. Several files are read in name order.
func openCIFAR(paths []string, opt Options) (*memSource, error) {
	sort.Strings(paths)
	lab := 1
	if opt.CIFAR100 {
		lab = 2
	}
	const pix = 3 * 32 * 32
	rec := lab + pix
	s := &memSource{shape: []int{3, 32, 32}}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		if len(data) == 0 || len(data)%rec != 0 {
			return nil, fmt.Errorf("dataset: %s: %d bytes is not a whole number of %d-byte CIFAR records", p, len(data), rec)
		}
		for off := 0; off < len(data); off += rec {
			s.labels = append(s.labels, int64(data[off+lab-1]))
			s.u8 = append(s.u8, data[off+lab:off+rec]...)
			s.n++
		}
	}
	return s, nil
}

package fitting

import (
	"fmt"
	"strconv"
	"strings"
)

// MethodKind is a kind of fitted map.
type MethodKind int

const (
	// FitLinear is the affine least-squares fit (Linear).
	FitLinear MethodKind = iota
	// FitLowRank is reduced-rank regression (LowRank) at Method.Rank.
	FitLowRank
	// FitProcrustes is an orthogonal map with the least-squares isotropic
	// scale and shift (Procrustes with Scale).
	FitProcrustes
	// FitProcrustesUnscaled is an orthogonal map and shift, scale 1
	// (Procrustes without Scale). The best fit is not always the best
	// adapter: an unscaled rotation can stitch better than the scaled one,
	// whose least-squares scale shrinks the activation.
	FitProcrustesUnscaled
)

// Method is how an affine map is fitted to a Stats. The zero value is the
// linear least-squares fit.
type Method struct {
	Kind MethodKind
	Rank int // for FitLowRank: the rank, at least 1
}

// ParseMethod reads a method as the command line writes it: linear,
// lowrank:R, procrustes or procrustes:unscaled.
func ParseMethod(s string) (Method, error) {
	switch {
	case s == "linear":
		return Method{Kind: FitLinear}, nil
	case s == "procrustes":
		return Method{Kind: FitProcrustes}, nil
	case s == "procrustes:unscaled":
		return Method{Kind: FitProcrustesUnscaled}, nil
	case strings.HasPrefix(s, "lowrank:"):
		r, err := strconv.Atoi(strings.TrimPrefix(s, "lowrank:"))
		if err != nil || r < 1 {
			return Method{}, fmt.Errorf("%q: want lowrank:R with R a positive rank", s)
		}
		return Method{Kind: FitLowRank, Rank: r}, nil
	}
	return Method{}, fmt.Errorf("%q: want linear, lowrank:R, procrustes or procrustes:unscaled", s)
}

// String returns the method as ParseMethod reads it.
func (m Method) String() string {
	switch m.Kind {
	case FitLowRank:
		return fmt.Sprintf("lowrank:%d", m.Rank)
	case FitProcrustes:
		return "procrustes"
	case FitProcrustesUnscaled:
		return "procrustes:unscaled"
	}
	return "linear"
}

// Describe names the method in words, e.g. "lowrank (rank 16)".
func (m Method) Describe() string {
	switch m.Kind {
	case FitLowRank:
		return fmt.Sprintf("lowrank (rank %d)", m.Rank)
	case FitProcrustesUnscaled:
		return "procrustes (unscaled)"
	}
	return m.String()
}

// Fit fits the map to s. opts.NoBias applies to every method; opts.Ridge
// to the least-squares ones (Linear and LowRank) only.
func (m Method) Fit(s *Stats, opts LinearOptions) (*Fit, error) {
	switch m.Kind {
	case FitLinear:
		return Linear(s, opts)
	case FitLowRank:
		return LowRank(s, m.Rank, opts)
	case FitProcrustes, FitProcrustesUnscaled:
		return Procrustes(s, ProcrustesOptions{NoBias: opts.NoBias, Scale: m.Kind == FitProcrustes})
	}
	return nil, fmt.Errorf("fitting: unknown method kind %d", m.Kind)
}

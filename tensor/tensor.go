package tensor

import (
	"errors"
	"fmt"
	"math"
)

// DType is an element type. Its values are ONNX's TensorProto.DataType
// numbers, so a DType converts to and from the wire format directly.
type DType int32

// The element types graft knows. Values follow onnx.proto.
const (
	Undefined DType = 0
	Float32   DType = 1
	Uint8     DType = 2
	Int8      DType = 3
	Uint16    DType = 4
	Int16     DType = 5
	Int32     DType = 6
	Int64     DType = 7
	String    DType = 8
	Bool      DType = 9
	Float16   DType = 10
	Float64   DType = 11
	Uint32    DType = 12
	Uint64    DType = 13
	BFloat16  DType = 16
)

var dtypeNames = map[DType]string{
	Undefined: "undefined", Float32: "float32", Uint8: "uint8", Int8: "int8",
	Uint16: "uint16", Int16: "int16", Int32: "int32", Int64: "int64",
	String: "string", Bool: "bool", Float16: "float16", Float64: "float64",
	Uint32: "uint32", Uint64: "uint64", BFloat16: "bfloat16",
}

var dtypeSizes = map[DType]int{
	Float32: 4, Uint8: 1, Int8: 1, Uint16: 2, Int16: 2, Int32: 4, Int64: 8,
	Bool: 1, Float16: 2, Float64: 8, Uint32: 4, Uint64: 8, BFloat16: 2,
}

// String returns the dtype's lowercase name, such as "float32".
func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Size returns the bytes per element in the dtype's wire encoding, or 0 for
// types without a fixed size (String, Undefined, unknown).
func (d DType) Size() int { return dtypeSizes[d] }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

// Supported reports whether a Dense can hold elements of type d as
// numbers. Strings (Dense.Str) are held too, but only the few ops that
// take text read them.
func (d DType) Supported() bool { return d.Size() > 0 }

// Dense is an n-dimensional array in row-major order. Exactly one of F32,
// F64 and I64 is used, as the package documentation describes.
type Dense struct {
	DType DType
	Shape []int
	F32   []float32
	F64   []float64
	I64   []int64
	// Str holds a String tensor's elements (UTF-8).
	Str []string
	// Seq, if not nil, makes this an ONNX sequence value instead of an
	// array: an ordered list of tensors of DType. A sequence has no Shape
	// and no elements of its own.
	Seq *Sequence
	// None marks an empty optional value: it holds no tensor or sequence.
	// (An optional that holds one is that value itself.)
	None bool
}

// Sequence is the content of a sequence value. Its tensors are never
// modified once in a sequence: the sequence ops copy what they insert and
// what they hand out, so sequences may share them.
type Sequence struct {
	Items []*Dense
}

// NewSequence returns a sequence of tensors of dt holding items.
func NewSequence(dt DType, items ...*Dense) *Dense {
	return &Dense{DType: dt, Seq: &Sequence{Items: items}}
}

// ErrTooLarge reports a shape whose element count overflows or exceeds the
// limit of what graft will allocate.
var ErrTooLarge = errors.New("tensor too large")

// maxElems bounds any single tensor at 2^40 elements, far beyond real models
// yet small enough that byte sizes cannot overflow an int.
const maxElems = 1 << 40

// NumElems returns the product of shape's dimensions, checking for negative
// dimensions and overflow.
func NumElems(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		if d != 0 && n > maxElems/d {
			return 0, fmt.Errorf("shape %v: %w", shape, ErrTooLarge)
		}
		n *= d
	}
	return n, nil
}

// New returns a zero-filled tensor. It panics if shape is invalid or dt
// unsupported, and with an *AllocError if the tensor would exceed the
// memory budget (SetMemoryBudget); use CheckAlloc first on untrusted
// shapes.
func New(dt DType, shape ...int) *Dense { return newDense(dt, shape, true) }

// NewUninit is New for a kernel that writes every element before anyone
// reads one: float32 storage recycled from a dead tensor is not cleared
// (fresh storage is zero anyway). Clearing an output that a convolution
// then overwrites cost several percent of a network's run.
func NewUninit(dt DType, shape ...int) *Dense { return newDense(dt, shape, false) }

func newDense(dt DType, shape []int, zero bool) *Dense {
	if err := CheckAlloc(dt, shape); err != nil {
		panic(err) // an *AllocError, or a negative dimension
	}
	n, _ := NumElems(shape)
	t := &Dense{DType: dt, Shape: append([]int{}, shape...)}
	switch storageOf(dt) {
	case storeF32:
		if t.F32 = takeF32(n, zero); t.F32 == nil {
			t.F32 = make([]float32, n)
		}
	case storeF64:
		t.F64 = make([]float64, n)
	case storeI64:
		t.I64 = make([]int64, n)
	case storeStr:
		t.Str = make([]string, n)
	default:
		panic("tensor: unsupported dtype")
	}
	return t
}

// FromF32 wraps data as a Float32 tensor without copying.
func FromF32(shape []int, data []float32) *Dense {
	return &Dense{DType: Float32, Shape: append([]int{}, shape...), F32: data}
}

// FromF64 wraps data as a Float64 tensor without copying.
func FromF64(shape []int, data []float64) *Dense {
	return &Dense{DType: Float64, Shape: append([]int{}, shape...), F64: data}
}

// FromI64 wraps data as an Int64 tensor without copying.
func FromI64(shape []int, data []int64) *Dense {
	return &Dense{DType: Int64, Shape: append([]int{}, shape...), I64: data}
}

// Scalar returns a 0-d Float32 tensor.
func Scalar(v float32) *Dense { return FromF32(nil, []float32{v}) }

type storage int

const (
	storeNone storage = iota
	storeF32
	storeF64
	storeI64
	storeStr
)

func storageOf(dt DType) storage {
	switch dt {
	case Float32, Float16, BFloat16:
		return storeF32
	case Float64:
		return storeF64
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Bool, Uint32, Uint64:
		return storeI64
	case String:
		return storeStr
	}
	return storeNone
}

// Len returns the number of elements.
func (t *Dense) Len() int {
	switch storageOf(t.DType) {
	case storeF32:
		return len(t.F32)
	case storeF64:
		return len(t.F64)
	case storeI64:
		return len(t.I64)
	case storeStr:
		return len(t.Str)
	}
	return 0
}

// Rank returns the number of dimensions.
func (t *Dense) Rank() int { return len(t.Shape) }

// Clone returns a deep copy.
func (t *Dense) Clone() *Dense {
	if t.None {
		return &Dense{DType: t.DType, None: true}
	}
	if t.Seq != nil {
		items := make([]*Dense, len(t.Seq.Items))
		for i, it := range t.Seq.Items {
			items[i] = it.Clone()
		}
		return NewSequence(t.DType, items...)
	}
	c := &Dense{DType: t.DType, Shape: append([]int{}, t.Shape...)}
	if t.F32 != nil {
		c.F32 = append([]float32{}, t.F32...)
	}
	if t.F64 != nil {
		c.F64 = append([]float64{}, t.F64...)
	}
	if t.I64 != nil {
		c.I64 = append([]int64{}, t.I64...)
	}
	if t.Str != nil {
		c.Str = append([]string{}, t.Str...)
	}
	return c
}

// Reshaped returns a tensor sharing t's storage with a new shape of the same
// element count.
func (t *Dense) Reshaped(shape []int) *Dense {
	c := *t
	c.Shape = append([]int{}, shape...)
	return &c
}

// Float64s returns the elements converted to float64, whatever the storage.
func (t *Dense) Float64s() []float64 {
	out := make([]float64, t.Len())
	switch storageOf(t.DType) {
	case storeF32:
		for i, v := range t.F32 {
			out[i] = float64(v)
		}
	case storeF64:
		copy(out, t.F64)
	case storeI64:
		for i, v := range t.I64 {
			out[i] = float64(v)
		}
	}
	return out
}

// Int64s returns the elements converted to int64, whatever the storage.
// Floats are truncated toward zero.
func (t *Dense) Int64s() []int64 {
	switch storageOf(t.DType) {
	case storeI64:
		return append([]int64{}, t.I64...)
	}
	f := t.Float64s()
	out := make([]int64, len(f))
	for i, v := range f {
		out[i] = int64(v)
	}
	return out
}

// String summarises the tensor for error messages and debugging.
func (t *Dense) String() string {
	if t.None {
		return "empty optional"
	}
	if t.Seq != nil {
		return fmt.Sprintf("sequence of %d %s tensors", len(t.Seq.Items), t.DType)
	}
	return fmt.Sprintf("%s%v", t.DType, t.Shape)
}

// Equal reports whether a and b have the same dtype, shape and elements
// (NaNs compare equal to NaNs, so round trips can be checked exactly).
func Equal(a, b *Dense) bool {
	if a.DType != b.DType || !SameShape(a.Shape, b.Shape) || a.Len() != b.Len() {
		return false
	}
	for i := range a.F32 {
		x, y := a.F32[i], b.F32[i]
		if math.Float32bits(x) != math.Float32bits(y) && !(x != x && y != y) {
			return false
		}
	}
	for i := range a.F64 {
		x, y := a.F64[i], b.F64[i]
		if math.Float64bits(x) != math.Float64bits(y) && !(x != x && y != y) {
			return false
		}
	}
	for i := range a.I64 {
		if a.I64[i] != b.I64[i] {
			return false
		}
	}
	return true
}

// SameShape reports whether two shapes are identical.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Strides returns row-major strides for shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

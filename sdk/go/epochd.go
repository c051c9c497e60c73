// Package epochd is the Go SDK for epochd jobs (job ABI v1, sdk/ABI.md).
//
// A job is a Go main package built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o job.wasm .
//
// It declares the entry points it has with //go:wasmexport, each a one-line
// wrapper around this package's Run, Merge or Init, and an empty main:
//
//	//go:wasmexport epochd_run
//	func run() int32 { return epochd.Run(count) }
//
//	//go:wasmexport epochd_merge
//	func merge() int32 { return epochd.Merge(add) }
//
//	func main() {}
//
// This package exports epochd_abi_version itself (it returns 1).
//
// What it offers, over the raw imports of package sys:
//   - the epoch: Epoch, Seq, Rows, DC;
//   - columns (FindColumn): block copies into reusable, aligned buffers
//     (Column.Scan, or Column.ReadInt64s and friends into your own slices),
//     one value's bytes, dictionaries;
//   - a string field's ids by row, a window of rows at a time (RowIDs);
//   - containers (FindContainer): maps with varying keys, and lists;
//   - output and input: Emit, Fail, Log, Config, MergeInput;
//   - a compact JSON writer with serde_json's bytes (JSON, AppendQuote,
//     AppendFloat) and a small JSON reader (ParseJSON);
//   - UTF-8 as Rust treats it (AppendLossy, CheckUTF8);
//   - in package epochd.dev/epochd/sketch, the mergeable latency histogram
//     of the Rust SDK.
//
// Nothing here allocates per value: columns are read in blocks of Block
// values. See sdk/go/README.md.
package epochd

import (
	"slices"
	"strconv"
	"unsafe"

	"epochd.dev/epochd/sys"
)

// ABIVersion is the job ABI version this package speaks; the module's
// epochd_abi_version export returns it.
const ABIVersion = 1

// Block is the number of values a Scanner copies per host call, and the
// window of rows a RowIDs reads at a time.
const Block = 8192

// None is the string id of a row that holds no string (RowIDs).
const None = ^uint32(0)

// Type is the value type of a column.
type Type int32

// Column value types (sdk/ABI.md, "Columns").
const (
	Int   = Type(sys.TypeInt)   // values copied as int64
	Float = Type(sys.TypeFloat) // values copied as float64
	Bool  = Type(sys.TypeBool)  // values copied as bool (one byte, 0 or 1)
	Str   = Type(sys.TypeStr)   // dictionary ids (uint32), or bytes one value at a time
	Null  = Type(sys.TypeNull)  // nothing: only the rows
	Raw   = Type(sys.TypeRaw)   // MessagePack bytes, one value at a time
)

// String is the ABI's name of the type: INT, FLOAT, BOOL, STR, NULL, RAW.
func (t Type) String() string {
	switch t {
	case Int:
		return "INT"
	case Float:
		return "FLOAT"
	case Bool:
		return "BOOL"
	case Str:
		return "STR"
	case Null:
		return "NULL"
	case Raw:
		return "RAW"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Kind is the kind of a container.
type Kind int32

// Container kinds.
const (
	Map  = Kind(sys.KindMap)  // a map whose keys vary from event to event
	List = Kind(sys.KindList) // an array
)

// Level is the level of a log line.
type Level int32

// Log levels.
const (
	LevelError Level = 0
	LevelWarn  Level = 1
	LevelInfo  Level = 2
	LevelDebug Level = 3
)

// Error is an error code the host returned (sdk/ABI.md, "What the module
// may import"). Compare with ==, or errors.Is.
type Error int32

// The ABI's error codes.
const (
	ErrNotFound   = Error(sys.NotFound)   // no such column, container or entry
	ErrBadHandle  = Error(sys.BadHandle)  // the handle was not returned by this instance
	ErrOutOfRange = Error(sys.OutOfRange) // start or index beyond the values
	ErrWrongType  = Error(sys.WrongType)  // the call does not fit the column's type
	ErrTooLarge   = Error(sys.TooLarge)   // the result exceeds the job's maximum result size
	ErrNotNow     = Error(sys.NotNow)     // not available in this entry point
)

// Name is the ABI's name of the code: NOT_FOUND, BAD_HANDLE, ...
func (e Error) Name() string {
	switch e {
	case ErrNotFound:
		return "NOT_FOUND"
	case ErrBadHandle:
		return "BAD_HANDLE"
	case ErrOutOfRange:
		return "OUT_OF_RANGE"
	case ErrWrongType:
		return "WRONG_TYPE"
	case ErrTooLarge:
		return "TOO_LARGE"
	case ErrNotNow:
		return "NOT_NOW"
	}
	return "an unknown code"
}

// Error is "epochd: NOT_FOUND (-1)".
func (e Error) Error() string {
	return "epochd: " + e.Name() + " (" + strconv.Itoa(int(e)) + ")"
}

// result turns a host return into a count, or an Error.
func result(r int32) (int, error) {
	if r < 0 {
		return 0, Error(r)
	}
	return int(r), nil
}

// ptr is the address of a slice's first element (nil for an empty one:
// the host then writes nothing).
func ptr[T any](s []T) unsafe.Pointer {
	return unsafe.Pointer(unsafe.SliceData(s))
}

// strPtr is the address of a string's bytes.
func strPtr(s string) unsafe.Pointer {
	return unsafe.Pointer(unsafe.StringData(s))
}

// clamp32 caps a length at what an int32 holds.
func clamp32(n int) int32 {
	if n > 0x7fffffff {
		return 0x7fffffff
	}
	return int32(n)
}

// readVar appends a variable-length value to dst: call(p, capacity) copies
// min(len, capacity) bytes to p and returns the full length (or a code).
func readVar(dst []byte, call func(p unsafe.Pointer, capacity int32) int32) ([]byte, error) {
	dst = slices.Grow(dst, 64)
	spare := dst[len(dst):cap(dst)]
	n, err := result(call(ptr(spare), clamp32(len(spare))))
	if err != nil {
		return dst, err
	}
	if n > len(spare) {
		dst = slices.Grow(dst, n)
		spare = dst[len(dst) : len(dst)+n]
		m, err := result(call(ptr(spare), int32(n)))
		if err != nil {
			return dst, err
		}
		n = min(n, m) // the host's answer does not change within a run
	}
	return dst[:len(dst)+n], nil
}

// Epoch is the epoch: its unix second.
func Epoch() int64 { return sys.Epoch() }

// Seq is 0 for the primary commit, 1.. for supplementary commits of late
// events.
func Seq() int { return int(max(sys.Seq(), 0)) }

// Rows is the number of events (rows) of the epoch, numbered 0..Rows()-1.
func Rows() int { return int(max(sys.Rows(), 0)) }

// DC is the commit's dc name, as raw bytes (see AppendLossy for valid
// UTF-8). It is empty during a merge.
func DC() string {
	b, _ := readVar(nil, func(p unsafe.Pointer, c int32) int32 { return sys.DC(p, c) })
	return string(b)
}

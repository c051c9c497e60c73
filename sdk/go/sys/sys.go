// Package sys is the epochd job ABI v1 (sdk/ABI.md), one to one: every
// function the host offers in import module "epochd". Pointers are
// addresses in the module's linear memory (in Go on wasm, a pointer is
// one); lengths, counts and handles are int32; negative results are the
// ABI's error codes (NotFound, ...; package epochd's Error).
//
// Most jobs use package epochd instead, which wraps these calls: block
// copies into reusable buffers, strings, containers, output and merge
// inputs.
//
// Outside WebAssembly (go test, go vet or an editor on the host) the
// package builds, so that code using it can be checked there, but every
// function panics: there is no epoch to read.
package sys

import "unsafe"

// Error codes (sdk/ABI.md, "What the module may import").
const (
	NotFound   int32 = -1 // no such column, container or entry
	BadHandle  int32 = -2 // the handle was not returned by this instance
	OutOfRange int32 = -3 // start or index beyond the values
	WrongType  int32 = -4 // the call does not fit the column's type
	TooLarge   int32 = -5 // the result exceeds the job's maximum result size
	NotNow     int32 = -6 // not available in this entry point
)

// Column value types (the type argument of Column and ContainerValues).
const (
	TypeInt   int32 = 0 // values copied as int64 (ColumnI64)
	TypeFloat int32 = 1 // values copied as float64 (ColumnF64)
	TypeBool  int32 = 2 // values copied as one byte, 0 or 1 (ColumnU8)
	TypeStr   int32 = 3 // dictionary ids (ColumnIDs), or bytes (ColumnBytes)
	TypeNull  int32 = 4 // nothing: only the rows
	TypeRaw   int32 = 5 // MessagePack bytes, one value at a time (ColumnBytes)
)

// Container kinds (the kind argument of Container).
const (
	KindMap  int32 = 0 // a map whose keys vary from event to event
	KindList int32 = 1 // an array
)

// Each function below is the import of the same name in snake case
// (Epoch is `epoch`, ColumnI64 is `column_i64`). They are small wrappers,
// which Go inlines, so that their documentation lives in one place for
// both builds: the imports themselves are in sys_wasm.go, the stubs of
// other platforms in sys_other.go.

// Block copies (ColumnRows, ColumnI64, ColumnF64, ColumnU8, ColumnIDs,
// ContainerRows, ContainerOffsets) copy values start..min(start+count,
// len) to dst and return how many: 0 when start == len, OutOfRange past
// it. The whole range dst..dst+count*width must lie in memory.
//
// Byte copies (DC, DictEntry, ColumnBytes, ConfigRead, MergeInput) copy
// min(len, capacity) bytes to dst and return the full length: a return
// above capacity means "call again with a larger buffer".

// Epoch is the epoch: its unix second.
func Epoch() int64 { return epoch() }

// Seq is 0 for the primary commit, 1.. for supplementary commits of late
// events.
func Seq() int32 { return seq() }

// Rows is the number of events (rows) of the epoch, numbered 0..Rows()-1.
func Rows() int32 { return rows() }

// DC copies the commit's dc name (empty during a merge); a byte copy.
func DC(dst unsafe.Pointer, capacity int32) int32 { return dc(dst, capacity) }

// Column is the handle of the column of (path, typ), or NotFound.
func Column(path unsafe.Pointer, pathLen, typ int32) int32 { return column(path, pathLen, typ) }

// ColumnLen is the number of values of column h: the rows holding its
// field with its type.
func ColumnLen(h int32) int32 { return columnLen(h) }

// ColumnDense is 1 when every row of column h's space holds a value
// (value i is row i), else 0.
func ColumnDense(h int32) int32 { return columnDense(h) }

// ColumnRows copies the rows (uint32, ascending) of values
// start..start+count-1; a block copy.
func ColumnRows(h, start, count int32, dst unsafe.Pointer) int32 {
	return columnRows(h, start, count, dst)
}

// ColumnI64 copies INT values (int64); a block copy.
func ColumnI64(h, start, count int32, dst unsafe.Pointer) int32 {
	return columnI64(h, start, count, dst)
}

// ColumnF64 copies FLOAT values (float64); a block copy.
func ColumnF64(h, start, count int32, dst unsafe.Pointer) int32 {
	return columnF64(h, start, count, dst)
}

// ColumnU8 copies BOOL values (one byte each, 0 or 1); a block copy.
func ColumnU8(h, start, count int32, dst unsafe.Pointer) int32 {
	return columnU8(h, start, count, dst)
}

// ColumnIDs copies the dictionary ids (uint32) of STR values; a block
// copy. WrongType when the column has no dictionary.
func ColumnIDs(h, start, count int32, dst unsafe.Pointer) int32 {
	return columnIDs(h, start, count, dst)
}

// DictLen is the number of distinct strings of a dictionary column (ids
// are 0..DictLen-1); WrongType when it has none.
func DictLen(h int32) int32 { return dictLen(h) }

// DictEntry copies string id of column h's dictionary; a byte copy.
func DictEntry(h, id int32, dst unsafe.Pointer, capacity int32) int32 {
	return dictEntry(h, id, dst, capacity)
}

// ColumnBytes copies value index of a STR or RAW column; a byte copy.
func ColumnBytes(h, index int32, dst unsafe.Pointer, capacity int32) int32 {
	return columnBytes(h, index, dst, capacity)
}

// Container is the handle of the container of (path, kind), or NotFound.
func Container(path unsafe.Pointer, pathLen, kind int32) int32 {
	return container(path, pathLen, kind)
}

// ContainerLen is the number of rows holding container h.
func ContainerLen(h int32) int32 { return containerLen(h) }

// ContainerRows copies the holding rows (uint32); a block copy.
func ContainerRows(h, start, count int32, dst unsafe.Pointer) int32 {
	return containerRows(h, start, count, dst)
}

// ContainerOffsets copies entry offsets (uint32), of which there are
// ContainerLen+1: the entries of the i-th holding row are
// offsets[i]..offsets[i+1]-1. A block copy.
func ContainerOffsets(h, start, count int32, dst unsafe.Pointer) int32 {
	return containerOffsets(h, start, count, dst)
}

// ContainerKeys is the handle of a map's keys: a dense STR column over
// its entries. WrongType for a list.
func ContainerKeys(h int32) int32 { return containerKeys(h) }

// ContainerValues is the handle of the column of the entries' values of
// type typ, or NotFound.
func ContainerValues(h, typ int32) int32 { return containerValues(h, typ) }

// Emit sets the result to the bytes at ptr, replacing an earlier one: 0,
// or TooLarge past the job's maximum result size (the run then fails).
func Emit(ptr unsafe.Pointer, length int32) int32 { return emit(ptr, length) }

// Fail sets the message explaining a failure (UTF-8, kept up to 4 KiB).
func Fail(ptr unsafe.Pointer, length int32) { fail(ptr, length) }

// Log writes a log line: level 0 error, 1 warn, 2 info, anything else
// debug.
func Log(level int32, ptr unsafe.Pointer, length int32) { log(level, ptr, length) }

// ConfigLen is the length of the config given at submission.
func ConfigLen() int32 { return configLen() }

// ConfigRead copies the config; a byte copy.
func ConfigRead(dst unsafe.Pointer, capacity int32) int32 { return configRead(dst, capacity) }

// MergeInput copies merge input which (0 or 1); a byte copy. NotNow
// outside epochd_merge.
func MergeInput(which int32, dst unsafe.Pointer, capacity int32) int32 {
	return mergeInput(which, dst, capacity)
}

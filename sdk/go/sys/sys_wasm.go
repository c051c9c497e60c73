//go:build wasm

package sys

import "unsafe"

// The epoch.

//go:wasmimport epochd epoch
func Epoch() int64

//go:wasmimport epochd seq
func Seq() int32

//go:wasmimport epochd rows
func Rows() int32

//go:wasmimport epochd dc
//go:noescape
func DC(dst unsafe.Pointer, capacity int32) int32

// Columns.

//go:wasmimport epochd column
//go:noescape
func Column(path unsafe.Pointer, pathLen int32, typ int32) int32

//go:wasmimport epochd column_len
func ColumnLen(h int32) int32

//go:wasmimport epochd column_dense
func ColumnDense(h int32) int32

//go:wasmimport epochd column_rows
//go:noescape
func ColumnRows(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd column_i64
//go:noescape
func ColumnI64(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd column_f64
//go:noescape
func ColumnF64(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd column_u8
//go:noescape
func ColumnU8(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd column_ids
//go:noescape
func ColumnIDs(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd dict_len
func DictLen(h int32) int32

//go:wasmimport epochd dict_entry
//go:noescape
func DictEntry(h, id int32, dst unsafe.Pointer, capacity int32) int32

//go:wasmimport epochd column_bytes
//go:noescape
func ColumnBytes(h, index int32, dst unsafe.Pointer, capacity int32) int32

// Containers.

//go:wasmimport epochd container
//go:noescape
func Container(path unsafe.Pointer, pathLen int32, kind int32) int32

//go:wasmimport epochd container_len
func ContainerLen(h int32) int32

//go:wasmimport epochd container_rows
//go:noescape
func ContainerRows(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd container_offsets
//go:noescape
func ContainerOffsets(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd container_keys
func ContainerKeys(h int32) int32

//go:wasmimport epochd container_values
func ContainerValues(h, typ int32) int32

// Output, config, logs, merge.

//go:wasmimport epochd emit
//go:noescape
func Emit(ptr unsafe.Pointer, length int32) int32

//go:wasmimport epochd fail
//go:noescape
func Fail(ptr unsafe.Pointer, length int32)

//go:wasmimport epochd log
//go:noescape
func Log(level int32, ptr unsafe.Pointer, length int32)

//go:wasmimport epochd config_len
func ConfigLen() int32

//go:wasmimport epochd config_read
//go:noescape
func ConfigRead(dst unsafe.Pointer, capacity int32) int32

//go:wasmimport epochd merge_input
//go:noescape
func MergeInput(which int32, dst unsafe.Pointer, capacity int32) int32

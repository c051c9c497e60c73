//go:build wasm

package sys

import "unsafe"

// The imports (sdk/ABI.md). //go:noescape: the host keeps no pointer.

//go:wasmimport epochd epoch
func epoch() int64

//go:wasmimport epochd seq
func seq() int32

//go:wasmimport epochd rows
func rows() int32

//go:wasmimport epochd dc
//go:noescape
func dc(dst unsafe.Pointer, capacity int32) int32

//go:wasmimport epochd column
//go:noescape
func column(path unsafe.Pointer, pathLen, typ int32) int32

//go:wasmimport epochd column_len
func columnLen(h int32) int32

//go:wasmimport epochd column_dense
func columnDense(h int32) int32

//go:wasmimport epochd column_rows
//go:noescape
func columnRows(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd column_i64
//go:noescape
func columnI64(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd column_f64
//go:noescape
func columnF64(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd column_u8
//go:noescape
func columnU8(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd column_ids
//go:noescape
func columnIDs(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd dict_len
func dictLen(h int32) int32

//go:wasmimport epochd dict_entry
//go:noescape
func dictEntry(h, id int32, dst unsafe.Pointer, capacity int32) int32

//go:wasmimport epochd column_bytes
//go:noescape
func columnBytes(h, index int32, dst unsafe.Pointer, capacity int32) int32

//go:wasmimport epochd container
//go:noescape
func container(path unsafe.Pointer, pathLen, kind int32) int32

//go:wasmimport epochd container_len
func containerLen(h int32) int32

//go:wasmimport epochd container_rows
//go:noescape
func containerRows(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd container_offsets
//go:noescape
func containerOffsets(h, start, count int32, dst unsafe.Pointer) int32

//go:wasmimport epochd container_keys
func containerKeys(h int32) int32

//go:wasmimport epochd container_values
func containerValues(h, typ int32) int32

//go:wasmimport epochd emit
//go:noescape
func emit(ptr unsafe.Pointer, length int32) int32

//go:wasmimport epochd fail
//go:noescape
func fail(ptr unsafe.Pointer, length int32)

//go:wasmimport epochd log
//go:noescape
func log(level int32, ptr unsafe.Pointer, length int32)

//go:wasmimport epochd config_len
func configLen() int32

//go:wasmimport epochd config_read
//go:noescape
func configRead(dst unsafe.Pointer, capacity int32) int32

//go:wasmimport epochd merge_input
//go:noescape
func mergeInput(which int32, dst unsafe.Pointer, capacity int32) int32

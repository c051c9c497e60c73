//go:build !wasm

package sys

import "unsafe"

// Outside WebAssembly there is no host: every call panics, so that the
// SDK's pure parts (JSON, UTF-8, the sketch) build and test natively.

func none() { panic("epochd/sys: the job ABI exists only in WebAssembly (GOOS=wasip1 GOARCH=wasm)") }

func Epoch() int64                                         { none(); return 0 }
func Seq() int32                                           { none(); return 0 }
func Rows() int32                                          { none(); return 0 }
func DC(unsafe.Pointer, int32) int32                       { none(); return 0 }
func Column(unsafe.Pointer, int32, int32) int32            { none(); return 0 }
func ColumnLen(int32) int32                                { none(); return 0 }
func ColumnDense(int32) int32                              { none(); return 0 }
func ColumnRows(int32, int32, int32, unsafe.Pointer) int32 { none(); return 0 }
func ColumnI64(int32, int32, int32, unsafe.Pointer) int32  { none(); return 0 }
func ColumnF64(int32, int32, int32, unsafe.Pointer) int32  { none(); return 0 }
func ColumnU8(int32, int32, int32, unsafe.Pointer) int32   { none(); return 0 }
func ColumnIDs(int32, int32, int32, unsafe.Pointer) int32  { none(); return 0 }
func DictLen(int32) int32                                  { none(); return 0 }
func DictEntry(int32, int32, unsafe.Pointer, int32) int32  { none(); return 0 }
func ColumnBytes(int32, int32, unsafe.Pointer, int32) int32 {
	none()
	return 0
}
func Container(unsafe.Pointer, int32, int32) int32               { none(); return 0 }
func ContainerLen(int32) int32                                   { none(); return 0 }
func ContainerRows(int32, int32, int32, unsafe.Pointer) int32    { none(); return 0 }
func ContainerOffsets(int32, int32, int32, unsafe.Pointer) int32 { none(); return 0 }
func ContainerKeys(int32) int32                                  { none(); return 0 }
func ContainerValues(int32, int32) int32                         { none(); return 0 }
func Emit(unsafe.Pointer, int32) int32                           { none(); return 0 }
func Fail(unsafe.Pointer, int32)                                 { none() }
func Log(int32, unsafe.Pointer, int32)                           { none() }
func ConfigLen() int32                                           { none(); return 0 }
func ConfigRead(unsafe.Pointer, int32) int32                     { none(); return 0 }
func MergeInput(int32, unsafe.Pointer, int32) int32              { none(); return 0 }

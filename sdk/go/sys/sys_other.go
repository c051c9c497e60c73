//go:build !wasm

package sys

import "unsafe"

// Outside WebAssembly there is no host: every import panics, so that the
// SDK's pure parts (JSON, UTF-8, the sketch) build and test natively.

const noHost = "epochd/sys: the job ABI exists only in WebAssembly (GOOS=wasip1 GOARCH=wasm)"

func epoch() int64                                               { panic(noHost) }
func seq() int32                                                 { panic(noHost) }
func rows() int32                                                { panic(noHost) }
func dc(unsafe.Pointer, int32) int32                             { panic(noHost) }
func column(unsafe.Pointer, int32, int32) int32                  { panic(noHost) }
func columnLen(int32) int32                                      { panic(noHost) }
func columnDense(int32) int32                                    { panic(noHost) }
func columnRows(int32, int32, int32, unsafe.Pointer) int32       { panic(noHost) }
func columnI64(int32, int32, int32, unsafe.Pointer) int32        { panic(noHost) }
func columnF64(int32, int32, int32, unsafe.Pointer) int32        { panic(noHost) }
func columnU8(int32, int32, int32, unsafe.Pointer) int32         { panic(noHost) }
func columnIDs(int32, int32, int32, unsafe.Pointer) int32        { panic(noHost) }
func dictLen(int32) int32                                        { panic(noHost) }
func dictEntry(int32, int32, unsafe.Pointer, int32) int32        { panic(noHost) }
func columnBytes(int32, int32, unsafe.Pointer, int32) int32      { panic(noHost) }
func container(unsafe.Pointer, int32, int32) int32               { panic(noHost) }
func containerLen(int32) int32                                   { panic(noHost) }
func containerRows(int32, int32, int32, unsafe.Pointer) int32    { panic(noHost) }
func containerOffsets(int32, int32, int32, unsafe.Pointer) int32 { panic(noHost) }
func containerKeys(int32) int32                                  { panic(noHost) }
func containerValues(int32, int32) int32                         { panic(noHost) }
func emit(unsafe.Pointer, int32) int32                           { panic(noHost) }
func fail(unsafe.Pointer, int32)                                 { panic(noHost) }
func log(int32, unsafe.Pointer, int32)                           { panic(noHost) }
func configLen() int32                                           { panic(noHost) }
func configRead(unsafe.Pointer, int32) int32                     { panic(noHost) }
func mergeInput(int32, unsafe.Pointer, int32) int32              { panic(noHost) }

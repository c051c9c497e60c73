// Package sys is the epochd job ABI v1 (sdk/ABI.md), one to one: every
// function the host offers in import module "epochd", declared with
// //go:wasmimport. Pointers are addresses in the module's linear memory
// (in Go on wasm, a pointer is one); lengths, counts and handles are
// int32; negative results are the ABI's error codes (see package epochd's
// Error).
//
// Most jobs use package epochd instead, which wraps these calls: block
// copies into reusable buffers, strings, containers, output and merge
// inputs.
//
// Outside WebAssembly (go test, go vet on the host) every function panics:
// there is no epoch to read.
package sys

// Error codes (sdk/ABI.md).
const (
	NotFound   int32 = -1
	BadHandle  int32 = -2
	OutOfRange int32 = -3
	WrongType  int32 = -4
	TooLarge   int32 = -5
	NotNow     int32 = -6
)

// Column value types and container kinds.
const (
	TypeInt   int32 = 0
	TypeFloat int32 = 1
	TypeBool  int32 = 2
	TypeStr   int32 = 3
	TypeNull  int32 = 4
	TypeRaw   int32 = 5

	KindMap  int32 = 0
	KindList int32 = 1
)

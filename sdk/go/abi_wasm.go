//go:build wasm

package epochd

// abiVersion is the module's epochd_abi_version export: every job that
// imports this package has it.
//
//go:wasmexport epochd_abi_version
func abiVersion() int32 { return ABIVersion }

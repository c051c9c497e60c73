//! Tests of the job runtime with real wasmtime, real modules (WebAssembly
//! text) and real decoded epochs.

mod abi;
mod artifact;
mod components;
mod hostile;
mod many;
mod merge;
mod preinit;
mod submit;
mod support;
mod wasi;

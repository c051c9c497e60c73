//! A compiled job, kept: the machine code cranelift made of a module or a
//! component, so that a restart loads it in milliseconds instead of
//! compiling again (seconds for a Python or JavaScript runtime of tens of
//! MB; issue 15). The caller keeps the bytes beside the job's wasm
//! ([`crate::JobModule::artifact`]) and gives both back to
//! [`crate::Runtime::load`].
//!
//! The format is a fixed header, then wasmtime's serialized form:
//!
//! | bytes | what |
//! |---|---|
//! | 16 | [`MAGIC`]: `epochd-compiled` and the format version |
//! | 1 | the kind: 0 a core module, 1 a component |
//! | 32 | SHA-256 of the submitted wasm it was compiled from |
//! | 32 | SHA-256 of the body |
//! | rest | the body: `Module::serialize` or `Component::serialize` |
//!
//! wasmtime runs a serialized module without validating its code again, so
//! loading one is only sound for the exact bytes wasmtime wrote. The body's
//! checksum catches a damaged file (a torn write, a flipped bit, a file
//! truncated by a full disk); the wasm's checksum catches an artifact kept
//! for other wasm; wasmtime itself refuses one made by another version or
//! configuration of the engine. What it does not defend against is someone
//! who can write the daemon's data directory: they could change the store
//! as well.

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Module;

use crate::engine::Runtime;
use crate::error::SubmitError;
use crate::module::{JobModule, Program};

/// The first bytes of every artifact; the last byte is the format version.
const MAGIC: &[u8; 16] = b"epochd-compiled1";
const KIND_CORE: u8 = 0;
const KIND_COMPONENT: u8 = 1;
const HEADER_BYTES: usize = MAGIC.len() + 1 + 32 + 32;

/// Why a kept artifact was not used (compile the wasm instead), or could
/// not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The bytes do not start with [`MAGIC`] and a known kind: not an
    /// artifact, or one of an older format.
    #[error("not an epochd compiled artifact of format 1 (or one cut short)")]
    Format,
    /// It was compiled from other wasm than the one given.
    #[error("compiled from other wasm than the job's")]
    OtherWasm,
    /// Its body's checksum does not match: the file is damaged.
    #[error("its checksum does not match its contents: the file is damaged")]
    Checksum,
    /// wasmtime refused it: another engine version or configuration made it.
    #[error("the engine cannot load it (another wasmtime version or configuration?): {0}")]
    Incompatible(String),
    /// It loaded, but the job no longer passes the submission checks (the
    /// node's limits changed, say): compiling it gives the same refusal.
    #[error("the job is refused: {0}")]
    Refused(#[from] SubmitError),
    /// wasmtime could not serialize the compiled job.
    #[error("cannot serialize the compiled job: {0}")]
    Serialize(String),
}

/// The SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The artifact of a compiled job.
pub(crate) fn encode(job: &JobModule) -> Result<Vec<u8>, ArtifactError> {
    let (kind, body) = match &job.inner.program {
        Program::Core(m) => (KIND_CORE, m.pre.module().serialize()),
        Program::Component(c) => (KIND_COMPONENT, c.component().serialize()),
    };
    let body = body.map_err(|e| ArtifactError::Serialize(format!("{e:#}")))?;
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(MAGIC);
    out.push(kind);
    out.extend_from_slice(&job.inner.wasm_sha256);
    out.extend_from_slice(&sha256(&body));
    out.extend_from_slice(&body);
    Ok(out)
}

/// Loads the job compiled from `wasm` out of its artifact, then checks it
/// as a submission is checked.
pub(crate) fn load(
    runtime: &Runtime,
    wasm: &[u8],
    artifact: &[u8],
) -> Result<JobModule, ArtifactError> {
    let rt = &runtime.inner;
    crate::submit::check_size(rt, wasm.len())?;
    if artifact.len() < HEADER_BYTES || !artifact.starts_with(MAGIC) {
        return Err(ArtifactError::Format);
    }
    let kind = artifact[MAGIC.len()];
    let wasm_sum = &artifact[MAGIC.len() + 1..MAGIC.len() + 33];
    let body_sum = &artifact[MAGIC.len() + 33..HEADER_BYTES];
    let body = &artifact[HEADER_BYTES..];
    let wasm_sha256 = sha256(wasm);
    if wasm_sum != wasm_sha256 {
        return Err(ArtifactError::OtherWasm);
    }
    if body_sum != sha256(body) {
        return Err(ArtifactError::Checksum);
    }
    let incompatible = |e: wasmtime::Error| ArtifactError::Incompatible(format!("{e:#}"));
    match kind {
        KIND_CORE => {
            // SAFETY: `body` is, byte for byte (its SHA-256 matches the one
            // written beside it), what `Module::serialize` produced in
            // `encode` for this very wasm; wasmtime checks that its own
            // version and engine configuration match and refuses it
            // otherwise. The data directory it is kept in is trusted as the
            // store is (module docs).
            let module = unsafe { Module::deserialize(&rt.engine, body) }.map_err(incompatible)?;
            Ok(crate::submit::checked_core(rt, module, wasm, wasm_sha256)?)
        }
        KIND_COMPONENT => {
            // SAFETY: as above, for `Component::serialize`.
            let component =
                unsafe { Component::deserialize(&rt.engine, body) }.map_err(incompatible)?;
            Ok(crate::component::checked(
                rt,
                component,
                wasm.len(),
                wasm_sha256,
            )?)
        }
        _ => Err(ArtifactError::Format),
    }
}

//! A compiled, checked job module: shareable across threads, instantiated
//! afresh for every run (see run.rs).

use std::sync::Arc;

use wasmtime::{InstancePre, ModuleExport};

use crate::artifact::ArtifactError;
use crate::component::ComponentJob;
use crate::engine::RuntimeInner;
use crate::state::JobState;

/// A job's module, compiled once and checked against ABI v1 by
/// [`crate::Runtime::compile`].
///
/// Cheap to clone (an `Arc`), `Send + Sync`: any number of threads may call
/// [`JobModule::run`] on it at once; every run gets its own instance.
#[derive(Clone)]
pub struct JobModule {
    pub(crate) inner: Arc<ModuleInner>,
}

pub(crate) struct ModuleInner {
    /// Keeps the engine (and its ticker) alive as long as the module.
    pub(crate) runtime: Arc<RuntimeInner>,
    pub(crate) program: Program,
    /// The size of the submitted bytes.
    pub(crate) size: usize,
    /// The SHA-256 of the submitted bytes (written into its artifact).
    pub(crate) wasm_sha256: [u8; 32],
}

/// What was compiled: a core module (ABI v1) or a component of the job
/// world (ABI v1.1, "Components").
pub(crate) enum Program {
    Core(CoreModule),
    Component(ComponentJob),
}

/// A core module checked against ABI v1 (v1.1 with WASI).
pub(crate) struct CoreModule {
    /// Imports resolved against the ABI linker once, at submission.
    pub(crate) pre: InstancePre<JobState>,
    pub(crate) memory: ModuleExport,
    pub(crate) run: ModuleExport,
    /// A WASI reactor's `_initialize` (ABI v1.1), called first in every run
    /// (unless it was run once at submission: `preinitialized`).
    pub(crate) initialize: Option<ModuleExport>,
    /// A reactor compiled from the state its `_initialize` left (preinit.rs).
    pub(crate) preinitialized: bool,
    pub(crate) init: Option<ModuleExport>,
    pub(crate) merge: Option<ModuleExport>,
    pub(crate) initial_memory_bytes: u64,
    pub(crate) imports: Vec<&'static str>,
    pub(crate) wasi_imports: Vec<&'static str>,
}

impl JobModule {
    /// True when the module exports `epochd_init` (called before every
    /// `epochd_run` and `epochd_merge`).
    pub fn has_init(&self) -> bool {
        self.core().is_some_and(|m| m.init.is_some())
    }

    /// True when the module exports `epochd_merge`, so its results can be
    /// combined with [`JobModule::merge`].
    pub fn has_merge(&self) -> bool {
        match &self.inner.program {
            Program::Core(m) => m.merge.is_some(),
            Program::Component(c) => c.merge.is_some(),
        }
    }

    /// The size of its linear memory when a run's entry points begin, in
    /// bytes: at instantiation, or as a reactor's `_initialize` left it at
    /// the submission check. A run whose [`crate::RunLimits::memory_bytes`]
    /// is below it always fails with [`crate::RunError::OutOfMemory`]:
    /// check it against the job's manifest at submission.
    pub fn initial_memory_bytes(&self) -> u64 {
        match &self.inner.program {
            Program::Core(m) => m.initial_memory_bytes,
            Program::Component(c) => c.initial_memory_bytes,
        }
    }

    /// The ABI functions it imports, in import order.
    pub fn imports(&self) -> &[&'static str] {
        self.core().map_or(&[], |m| &m.imports)
    }

    /// The `wasi_snapshot_preview1` functions it imports (ABI v1.1), in
    /// import order, each once.
    pub fn wasi_imports(&self) -> &[&'static str] {
        self.core().map_or(&[], |m| &m.wasi_imports)
    }

    /// True when the module is a WASI reactor: it exports `_initialize`,
    /// which every run calls first.
    pub fn has_initialize(&self) -> bool {
        self.core().is_some_and(|m| m.initialize.is_some())
    }

    /// True when the module is a WASI reactor whose `_initialize` ran once,
    /// at submission, and whose runs start from the state it left
    /// (pre-initialisation: ABI.md, "`_initialize`").
    pub fn preinitialized(&self) -> bool {
        self.core().is_some_and(|m| m.preinitialized)
    }

    /// True when the job is a WebAssembly component of the world
    /// `epochd:job/job` (sdk/wit/job.wit): a Python or JavaScript job, say.
    pub fn is_component(&self) -> bool {
        matches!(self.inner.program, Program::Component(_))
    }

    /// The core module, unless the job is a component.
    pub(crate) fn core(&self) -> Option<&CoreModule> {
        match &self.inner.program {
            Program::Core(m) => Some(m),
            Program::Component(_) => None,
        }
    }

    /// The size of the submitted module, in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// The compiled job as bytes to keep beside its wasm, so that a restart
    /// loads it with [`crate::Runtime::load`] instead of compiling again.
    /// Tens of MB for a Python or JavaScript job; see artifact.rs for the
    /// format.
    pub fn artifact(&self) -> Result<Vec<u8>, ArtifactError> {
        crate::artifact::encode(self)
    }
}

impl std::fmt::Debug for JobModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobModule")
            .field("size", &self.inner.size)
            .field("component", &self.is_component())
            .field("has_init", &self.has_init())
            .field("has_merge", &self.has_merge())
            .field("initial_memory_bytes", &self.initial_memory_bytes())
            .field("imports", &self.imports())
            .field("wasi_imports", &self.wasi_imports())
            .field("preinitialized", &self.preinitialized())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn modules_and_the_runtime_are_shared_across_threads() {
        send_sync::<super::JobModule>();
        send_sync::<crate::Runtime>();
    }
}

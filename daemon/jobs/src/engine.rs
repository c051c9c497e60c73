//! The one wasmtime engine of the process, its epoch ticker thread and the
//! ABI linker.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, OptLevel, PoolingAllocationConfig, Strategy,
};

use crate::artifact::ArtifactError;
use crate::component::ComponentState;
use crate::config::RuntimeConfig;
use crate::error::{JobError, SubmitError};
use crate::module::JobModule;
use crate::state::JobState;

/// The job runtime: one wasmtime engine (cranelift, epoch interruption, the
/// pooling allocator when it can be had), a ticker thread that advances the
/// engine's epoch every [`RuntimeConfig::tick_ms`], and the ABI v1 host
/// functions. Build one per process; compile modules with
/// [`Runtime::compile`].
///
/// Cheap to clone. The ticker thread stops when the runtime and every
/// [`JobModule`] compiled by it are dropped.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

/// The most core instances, memories and tables one component's run may
/// have (each core module of a component is an instance: a Python job has
/// CPython, its libc, its WASI adapter and the glue between them).
pub(crate) const COMPONENT_CORE_INSTANCES: usize = 32;
pub(crate) const COMPONENT_MEMORIES: usize = 4;
pub(crate) const COMPONENT_TABLES: usize = 32;

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<JobState>,
    /// The linker of components: the job world and sandboxed WASI 0.2.
    pub(crate) component_linker: wasmtime::component::Linker<ComponentState>,
    pub(crate) config: RuntimeConfig,
    pub(crate) pooling: bool,
    _ticker: Ticker,
}

impl Runtime {
    /// Validates `config`, builds the engine and starts the ticker.
    ///
    /// With `config.pooling`, tries the pooling allocator first and falls
    /// back to on-demand allocation (with a warning) if the engine cannot
    /// reserve the pool; [`Runtime::pooling`] tells which one is in use.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, JobError> {
        config.validate()?;
        let (engine, pooling) = if config.pooling {
            match Engine::new(&engine_config(&config, true)) {
                Ok(engine) => (engine, true),
                Err(e) => {
                    tracing::warn!(
                        error = %format!("{e:#}"),
                        "job runtime: cannot reserve the pooling allocator; instantiating on \
                         demand instead (slower instantiation, no limit on concurrent runs)"
                    );
                    (new_engine(&config, false)?, false)
                }
            }
        } else {
            (new_engine(&config, false)?, false)
        };
        let linker = crate::host::linker(&engine).map_err(|e| JobError::Engine {
            reason: format!("{e:#}"),
        })?;
        let component_linker = crate::component::linker(&engine).map_err(|e| JobError::Engine {
            reason: format!("{e:#}"),
        })?;
        let ticker = Ticker::start(engine.clone(), config.tick())?;
        tracing::info!(
            pooling,
            tick_ms = config.tick_ms,
            max_concurrent_runs = config.max_concurrent_runs,
            "job runtime ready"
        );
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                component_linker,
                config,
                pooling,
                _ticker: ticker,
            }),
        })
    }

    /// Compiles a module once and checks it against ABI v1; see
    /// [`SubmitError`] for every reason it can be refused. Takes as long as
    /// cranelift needs (milliseconds for a small job, seconds for a large
    /// one): call it off any latency-sensitive thread.
    pub fn compile(&self, wasm: &[u8]) -> Result<JobModule, SubmitError> {
        crate::submit::compile(self, wasm)
    }

    /// Loads a job compiled earlier from its wasm and the artifact
    /// [`JobModule::artifact`] made of it, and checks it as
    /// [`Runtime::compile`] does, in milliseconds where compiling takes
    /// seconds. Any [`ArtifactError`] means: compile `wasm` instead (and
    /// keep the new artifact).
    pub fn load(&self, wasm: &[u8], artifact: &[u8]) -> Result<JobModule, ArtifactError> {
        crate::artifact::load(self, wasm, artifact)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// True when the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.inner.pooling
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("pooling", &self.inner.pooling)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn new_engine(config: &RuntimeConfig, pooling: bool) -> Result<Engine, JobError> {
    Engine::new(&engine_config(config, pooling)).map_err(|e| JobError::Engine {
        reason: format!("{e:#}"),
    })
}

/// The engine configuration: what ABI v1 allows, and the runtime's limits.
fn engine_config(config: &RuntimeConfig, pooling: bool) -> Config {
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true)
        // Wall-clock deadlines: a check at loop heads and calls (~10%).
        .epoch_interruption(true)
        .max_wasm_stack(config.max_wasm_stack_bytes)
        // ABI v1: one 32-bit memory, the one `memory` export the host writes
        // into. Every other wasmtime default feature stays (SIMD, bulk
        // memory, reference types, tail calls...); threads, GC and
        // exceptions are not compiled in. Components (ABI v1.1) are: their
        // core modules still have one memory each.
        .wasm_component_model(true)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        // Results are merged across nodes: the same input must give the same
        // bytes on every CPU.
        .relaxed_simd_deterministic(true);
    // For profiling jobs with `perf`: the compiled modules' functions get
    // names in /tmp/perf-<pid>.map (docs/BENCHMARKS.md, "Languages").
    if std::env::var_os("EPOCHD_PERFMAP").is_some() {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        let slots = config.max_concurrent_runs;
        let mut pool = PoolingAllocationConfig::new();
        // A component's run takes several core instances and tables from
        // the pool (one per core module of it: 14 instances and 2 tables
        // for a Python job, 4 and 2 for JavaScript): room for the largest
        // component in every slot. Core instances are only counted (no
        // memory is set aside for them); tables are reserved, so their
        // total leaves room for 4 per slot. Every run takes a memory, so
        // memories (one per slot) keep the cap of `slots` runs at once; a
        // run that finds the pool empty is `RunError::Busy`.
        pool.total_core_instances(slots.saturating_mul(COMPONENT_CORE_INSTANCES as u32))
            .total_memories(slots)
            .total_tables(slots.saturating_mul(4))
            .total_component_instances(slots)
            .max_core_instances_per_component(COMPONENT_CORE_INSTANCES as u32)
            .max_memories_per_component(COMPONENT_MEMORIES as u32)
            .max_tables_per_component(COMPONENT_TABLES as u32)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .table_elements(config.max_table_elements)
            .max_memory_size(config.max_memory_bytes)
            // Reset the first 4 MiB of a memory (16 KiB of a table) with a
            // memset instead of an madvise when a run ends, so the next run
            // in the slot does not fault its pages in again: measured
            // (docs/BENCHMARKS.md, Languages), the reference jobs' runs on a
            // 100k-event epoch drop by 20-35% (a small job's whole run from
            // ~14 to ~5 us already at 64 KiB).
            .linear_memory_keep_resident(4 << 20)
            .table_keep_resident(16 << 10)
            // Which bounds what that keeps: slots are reused least-recently-
            // used beyond 8 idle ones, so about (concurrent runs + 8) slots
            // hold memory, not one per job ever run.
            .max_unused_warm_slots(8)
            // On Linux 6.7 and later, ask the kernel which pages the run
            // wrote and reset only those (else all that is kept resident).
            .pagemap_scan(wasmtime::Enabled::Auto);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

/// Advances the engine's epoch every tick until dropped.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> Result<Ticker, JobError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("epochd-jobs-tick".into())
            .spawn(move || loop {
                match stopped.recv_timeout(tick) {
                    Err(RecvTimeoutError::Timeout) => engine.increment_epoch(),
                    _ => return,
                }
            })
            .map_err(JobError::Ticker)?;
        Ok(Ticker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Disconnecting the channel wakes the thread at once.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! Jobs as WebAssembly components (ABI v1.1, "Components" in sdk/ABI.md):
//! the world `epochd:job/job` or `epochd:job/mergeable-job` of
//! sdk/wit/job.wit, which Python (componentize-py) and JavaScript
//! (componentize-js) jobs are built against.
//!
//! The same guarantees as a core module's run (lib.rs): a fresh Store and
//! instance per run, from the compiled component's pre-initialised image
//! (the pooling allocator maps its memory copy-on-write, so a 20 MB Python
//! job starts in about a millisecond); the deadline, the memory cap, the
//! result limit; every end of a run a [`RunError`]. The epoch is read
//! through the world's `epoch` interface (host.rs) by the same code as ABI
//! v1's functions; WASI 0.2 is served sandboxed (wasi.rs).

mod host;
mod wasi;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{
    Component, ComponentExportIndex, Instance, InstancePre, Linker, ResourceTable,
};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::abi::MAX_FAIL_MESSAGE_BYTES;
use crate::artifact::sha256;
use crate::config::RunLimits;
use crate::engine::RuntimeInner;
use crate::error::{EntryPoint, RunError, SubmitError};
use crate::imports::{ImportProblem, ImportReason};
use crate::module::{JobModule, ModuleInner, Program};
use crate::run::{arm_deadline, classify, CancelToken, RunReport};
use crate::state::{utf8_prefix, JobState, Limiter, Phase};

/// The export that runs the job over the epoch.
const EXPORT_RUN: &str = "run";
/// The export that merges two results.
const EXPORT_MERGE: &str = "merge";

/// What `run` and `merge` return: the result, or why the run failed.
type Outcome = (Result<Vec<u8>, String>,);

/// A compiled component, checked against the job world.
pub(crate) struct ComponentJob {
    /// Imports resolved against the component linker once, at submission.
    pre: InstancePre<ComponentState>,
    run: ComponentExportIndex,
    pub(crate) merge: Option<ComponentExportIndex>,
    /// The memory its instantiation takes (its largest memory).
    pub(crate) initial_memory_bytes: u64,
}

impl ComponentJob {
    /// The compiled component (serialized into its artifact).
    pub(crate) fn component(&self) -> &Component {
        self.pre.component()
    }
}

/// Everything one component run's host functions see.
pub(crate) struct ComponentState {
    pub(crate) job: JobState,
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    stdout: wasi::LogPipe,
    stderr: wasi::LogPipe,
}

/// The most handles (columns, containers, WASI streams) one run may hold at
/// once. The table lives in the host's memory, outside the job's memory
/// cap: without a bound, a job asking for a column in a loop, never dropping
/// it, would grow the host until its deadline. A job needs a few hundred.
pub(crate) const MAX_HANDLES: usize = 65_536;

impl ComponentState {
    fn new(job: JobState) -> ComponentState {
        let (wasi, stdout, stderr) = wasi::context(job.wasi.time.clone(), job.wasi.random.clone());
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        ComponentState {
            job,
            table,
            wasi,
            stdout,
            stderr,
        }
    }

    /// The run's state, with what it printed logged.
    fn finish(self) -> JobState {
        let mut job = self.job;
        for (pipe, stderr) in [(&self.stdout, false), (&self.stderr, true)] {
            let (bytes, dropped) = pipe.take();
            job.write_stream(stderr, &bytes);
            if dropped {
                job.logs_dropped += 1;
            }
        }
        job.flush_streams();
        job
    }
}

impl WasiView for ComponentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The component linker: WASI 0.2 (synchronous, sandboxed by each run's
/// context) and the job world's imports.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<ComponentState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wasi::link_virtual_sleep(&mut linker)?;
    host::link(&mut linker)?;
    Ok(linker)
}

/// True when `wasm` is a binary component (layer 1 in the preamble), not a
/// core module.
pub(crate) fn is_component(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm.starts_with(b"\0asm") && wasm[6..8] == [1, 0]
}

/// Compiles a component, checks its imports and exports against the job
/// world, and instantiates it once.
pub(crate) fn compile(rt: &Arc<RuntimeInner>, wasm: &[u8]) -> Result<JobModule, SubmitError> {
    let component = Component::from_binary(&rt.engine, wasm).map_err(|e| SubmitError::Invalid {
        reason: format!("{e:#}"),
    })?;
    checked(rt, component, wasm.len(), sha256(wasm))
}

/// Checks a compiled (or loaded) component against the job world.
pub(crate) fn checked(
    rt: &Arc<RuntimeInner>,
    component: Component,
    size: usize,
    wasm_sha256: [u8; 32],
) -> Result<JobModule, SubmitError> {
    check_imports(&rt.engine, &component)?;
    let export = |name| component.get_export_index(None, name);
    let run = export(EXPORT_RUN).ok_or(SubmitError::MissingExport {
        name: EXPORT_RUN,
        what: "(for a component) the function `run: func() -> result<list<u8>, string>` of \
               the world `epochd:job/job` or `epochd:job/mergeable-job` (sdk/wit/job.wit); \
               build the component against that world",
    })?;
    let merge = export(EXPORT_MERGE);
    let pre = rt
        .component_linker
        .instantiate_pre(&component)
        .map_err(|e| SubmitError::Invalid {
            reason: format!("{e:#}"),
        })?;
    let mut job = ComponentJob {
        pre,
        run,
        merge,
        initial_memory_bytes: 0,
    };
    job.initial_memory_bytes = check_instance(rt, &job)?;
    Ok(JobModule {
        inner: Arc::new(ModuleInner {
            runtime: rt.clone(),
            program: Program::Component(job),
            size,
            wasm_sha256,
        }),
    })
}

/// The WASI 0.2 packages a component may import (served sandboxed).
const WASI_PACKAGES: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];

/// Whether an imported interface is served: `epochd:job/*@1.x` or one of
/// [`WASI_PACKAGES`] at 0.2.x.
fn served(name: &str) -> bool {
    let Some((path, version)) = name.split_once('@') else {
        return false;
    };
    let Some((package, _interface)) = path.split_once('/') else {
        return false;
    };
    match package.split_once(':') {
        Some(("epochd", "job")) => version.starts_with("1."),
        Some(("wasi", p)) => WASI_PACKAGES.contains(&p) && version.starts_with("0.2."),
        _ => false,
    }
}

/// Every import the component may not have, at once.
fn check_imports(engine: &Engine, component: &Component) -> Result<(), SubmitError> {
    let problems: Vec<ImportProblem> = component
        .component_type()
        .imports(engine)
        .filter(|(name, _)| !served(name))
        .map(|(name, _)| ImportProblem {
            module: name.to_owned(),
            name: String::new(),
            kind: "interface",
            reason: ImportReason::NotServed,
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(SubmitError::Imports {
        problems,
        toolchain: None,
        advice: "Build the component against sdk/wit/job.wit's world `job` or `mergeable-job` \
                 and leave out what it does not serve: with componentize-js, \
                 `--disable http fetch-event`; with componentize-py, import no other WIT \
                 world. Files, sockets and the network are not available to jobs."
            .into(),
    })
}

/// Instantiates the component once (no epoch, no config) and checks the
/// types of `run` and `merge`; returns its largest memory.
fn check_instance(rt: &Arc<RuntimeInner>, job: &ComponentJob) -> Result<u64, SubmitError> {
    let config = &rt.config;
    let state = JobState::for_check(Limiter::component(
        config.max_memory_bytes,
        config.max_table_elements,
    ));
    let deadline = Duration::from_millis(config.check_deadline_ms);
    let mut store = Store::new(&rt.engine, ComponentState::new(state));
    store.limiter(|s| &mut s.job.limiter);
    arm_deadline(&mut store, deadline, rt, None);
    let instance = job.pre.instantiate(&mut store).map_err(|e| {
        let error = classify(e, &store.data().job, EntryPoint::Instantiate, deadline, rt);
        SubmitError::AbiCheck {
            reason: error.to_string(),
        }
    })?;
    let wrong = |name: &str, expected: &str, e: wasmtime::Error| SubmitError::WrongExport {
        name: name.into(),
        expected: expected.into(),
        found: format!("another type ({e:#})"),
    };
    instance
        .get_typed_func::<(), Outcome>(&mut store, job.run)
        .map_err(|e| wrong(EXPORT_RUN, "func() -> result<list<u8>, string>", e))?;
    if let Some(merge) = job.merge {
        instance
            .get_typed_func::<(&[u8], &[u8]), Outcome>(&mut store, merge)
            .map_err(|e| {
                let expected = "func(a: list<u8>, b: list<u8>) -> result<list<u8>, string>";
                wrong(EXPORT_MERGE, expected, e)
            })?;
    }
    Ok(store.data().job.limiter.largest as u64)
}

/// Runs `entry` (`run`, or `merge` over the state's inputs) in a fresh
/// instance.
pub(crate) fn execute(
    rt: &RuntimeInner,
    job: &ComponentJob,
    limits: &RunLimits,
    state: JobState,
    entry: EntryPoint,
    cancel: Option<&CancelToken>,
) -> RunReport {
    let started = Instant::now();
    let mut store = Store::new(&rt.engine, ComponentState::new(state));
    store.limiter(|s| &mut s.job.limiter);
    arm_deadline(&mut store, limits.deadline, rt, cancel);
    let instance = job.pre.instantiate(&mut store);
    let instantiate = started.elapsed();
    let outcome = match instance {
        Err(e) => Err(classify(
            e,
            &store.data().job,
            EntryPoint::Instantiate,
            limits.deadline,
            rt,
        )),
        Ok(instance) => call(job, &mut store, &instance, entry, limits, rt),
    };
    RunReport::ended(outcome, started, instantiate, store.into_data().finish())
}

fn call(
    job: &ComponentJob,
    store: &mut Store<ComponentState>,
    instance: &Instance,
    entry: EntryPoint,
    limits: &RunLimits,
    rt: &RuntimeInner,
) -> Result<Vec<u8>, RunError> {
    store.data_mut().job.phase = Phase::Entry(entry);
    // Failures name the world's export, not ABI v1's.
    let export = match entry {
        EntryPoint::Merge => EntryPoint::ComponentMerge,
        _ => EntryPoint::ComponentRun,
    };
    let not_callable = |name: &str| RunError::Instantiate {
        message: format!("export `{name}` is not callable with the job world's type"),
    };
    let returned = match (entry, job.merge) {
        (EntryPoint::Merge, Some(merge)) => {
            let [a, b] = store.data_mut().job.inputs.take().unwrap_or_default();
            let func = instance
                .get_typed_func::<(&[u8], &[u8]), Outcome>(&mut *store, merge)
                .map_err(|_| not_callable(EXPORT_MERGE))?;
            func.call(&mut *store, (&a, &b))
        }
        (EntryPoint::Merge, None) => return Err(RunError::NoMerge),
        _ => {
            let func = instance
                .get_typed_func::<(), Outcome>(&mut *store, job.run)
                .map_err(|_| not_callable(EXPORT_RUN))?;
            func.call(&mut *store, ())
        }
    };
    match returned {
        Ok((Ok(result),)) if result.len() > limits.max_result_bytes => {
            Err(RunError::ResultTooLarge {
                size: result.len(),
                limit: limits.max_result_bytes,
            })
        }
        Ok((Ok(result),)) => Ok(result),
        Ok((Err(message),)) => Err(RunError::Failed {
            entry: export,
            code: 1,
            message: utf8_prefix(message.as_bytes(), MAX_FAIL_MESSAGE_BYTES),
        }),
        Err(e) => Err(classify(e, &store.data().job, export, limits.deadline, rt)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_world_and_wasi_0_2_are_served_and_nothing_else() {
        assert!(served("epochd:job/epoch@1.0.0"));
        assert!(served("epochd:job/host@1.2.0"));
        assert!(served("wasi:cli/environment@0.2.9"));
        assert!(served("wasi:sockets/tcp@0.2.0"));
        assert!(!served("epochd:job/epoch@2.0.0"));
        assert!(!served("wasi:http/types@0.2.0"));
        assert!(!served("wasi:cli/environment@0.3.0"));
        assert!(!served("wasi:cli/environment"));
        assert!(!served("env"));
        assert!(!served("acme:db/query@1.0.0"));
    }

    #[test]
    fn only_a_component_preamble_is_a_component() {
        assert!(is_component(b"\0asm\x0d\0\x01\0"));
        assert!(!is_component(b"\0asm\x01\0\0\0"));
        assert!(!is_component(b"\0asm"));
    }
}

//! Running a job: a fresh Store and instance per run, a deadline, a memory
//! cap, and every way it can end turned into a [`RunReport`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use epochd_decode::{EpochMeta, SharedEpoch};
use wasmtime::{
    Extern, Instance, ModuleExport, PoolConcurrencyLimitError, Store, Trap, UpdateDeadline,
    WasmBacktrace,
};
use wasmtime_wasi::I32Exit;

use crate::config::RunLimits;
use crate::engine::RuntimeInner;
use crate::error::{EntryPoint, RunError};
use crate::module::{CoreModule, JobModule, Program};
use crate::state::{JobState, Limiter, LogLine, Phase};
use crate::wasi::ProcExit;

/// What one run (or merge) produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The result the job emitted (empty if it emitted nothing), or why the
    /// run failed. A failed run's partial result is discarded.
    pub outcome: Result<Vec<u8>, RunError>,
    /// Wall-clock time of the whole run: instantiation, `epochd_init` and
    /// the entry point.
    pub wall: Duration,
    /// Of which instantiation (fresh Store, instance, data segments, start
    /// function).
    pub instantiate: Duration,
    /// What the job logged (at most [`crate::MAX_LOG_LINES`] lines and
    /// [`crate::MAX_LOG_BYTES`] bytes), failed runs included.
    pub logs: Vec<LogLine>,
    /// Lines dropped past those limits.
    pub logs_dropped: u32,
}

impl RunReport {
    /// True when the run succeeded.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The report of a run that started at `started` and left `state`.
    pub(crate) fn ended(
        outcome: Result<Vec<u8>, RunError>,
        started: Instant,
        instantiate: Duration,
        state: JobState,
    ) -> RunReport {
        RunReport {
            outcome,
            wall: started.elapsed(),
            instantiate,
            logs: state.logs,
            logs_dropped: state.logs_dropped,
        }
    }

    pub(crate) fn failed(error: RunError) -> RunReport {
        RunReport {
            outcome: Err(error),
            wall: Duration::ZERO,
            instantiate: Duration::ZERO,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

impl JobModule {
    /// Runs the job once over `epoch`: a fresh instance, `epochd_init` (if
    /// exported) then `epochd_run`, within `limits`.
    ///
    /// Never panics and never fails the caller: a trap, the deadline, the
    /// memory cap, an oversized result or a non-zero return is the report's
    /// [`RunError`]. Blocks the calling thread for at most
    /// `limits.deadline` plus one tick; run it on a worker thread (placed in
    /// the job's cgroup for its CPU cap).
    pub fn run(&self, limits: &RunLimits, epoch: &SharedEpoch, config: &[u8]) -> RunReport {
        let state = self.state(limits, Some(epoch.clone()), epoch.meta().clone(), config);
        self.execute(limits, state, EntryPoint::Run, None)
    }

    /// [`JobModule::run`] that can also be stopped from another thread:
    /// once `cancel` is cancelled the run ends within
    /// [`CANCEL_CHECK_TICKS`] ticks with [`RunError::Cancelled`] (a host
    /// call in progress finishes first). The daemon cancels the run of a
    /// job it pauses, so a job stopped for falling behind does not keep its
    /// thread, its memory and its epoch until the deadline.
    pub fn run_cancellable(
        &self,
        limits: &RunLimits,
        epoch: &SharedEpoch,
        config: &[u8],
        cancel: &CancelToken,
    ) -> RunReport {
        let state = self.state(limits, Some(epoch.clone()), epoch.meta().clone(), config);
        self.execute(limits, state, EntryPoint::Run, Some(cancel))
    }

    /// Combines two results of the same epoch (other dcs, other nodes) with
    /// the job's `epochd_merge`: a fresh instance, `epochd_init` (if
    /// exported) then `epochd_merge`, which reads `a` and `b` with
    /// `merge_input`. The epoch functions return `meta`'s values, `rows` is
    /// 0 and no column exists. [`RunError::NoMerge`] if the module has no
    /// `epochd_merge`.
    pub fn merge(
        &self,
        limits: &RunLimits,
        meta: &EpochMeta,
        a: &[u8],
        b: &[u8],
        config: &[u8],
    ) -> RunReport {
        if !self.has_merge() {
            return RunReport::failed(RunError::NoMerge);
        }
        let mut state = self.state(limits, None, meta.clone(), config);
        state.inputs = Some([a.to_vec(), b.to_vec()]);
        self.execute(limits, state, EntryPoint::Merge, None)
    }

    fn state(
        &self,
        limits: &RunLimits,
        epoch: Option<SharedEpoch>,
        meta: EpochMeta,
        config: &[u8],
    ) -> JobState {
        let rt = &self.inner.runtime.config;
        let memory_bytes = limits.memory_bytes.min(rt.max_memory_bytes);
        let limiter = if self.is_component() {
            Limiter::component(memory_bytes, rt.max_table_elements)
        } else {
            Limiter::core(memory_bytes, rt.max_table_elements)
        };
        JobState::new(
            Phase::Entry(EntryPoint::Instantiate),
            epoch,
            meta,
            config.to_vec(),
            limiter,
            limits.max_result_bytes,
            limits.random_seed,
        )
    }

    fn execute(
        &self,
        limits: &RunLimits,
        state: JobState,
        entry: EntryPoint,
        cancel: Option<&CancelToken>,
    ) -> RunReport {
        match &self.inner.program {
            Program::Core(core) => self.execute_core(core, limits, state, entry, cancel),
            Program::Component(job) => {
                crate::component::execute(&self.inner.runtime, job, limits, state, entry, cancel)
            }
        }
    }

    fn execute_core(
        &self,
        core: &CoreModule,
        limits: &RunLimits,
        state: JobState,
        entry: EntryPoint,
        cancel: Option<&CancelToken>,
    ) -> RunReport {
        let rt = &self.inner.runtime;
        let started = Instant::now();
        let mut store = Store::new(&rt.engine, state);
        store.limiter(|s| &mut s.limiter);
        arm_deadline(&mut store, limits.deadline, rt, cancel);
        let instance = core.pre.instantiate(&mut store);
        let instantiate = started.elapsed();
        let outcome = match instance {
            Err(e) => Err(classify(
                e,
                store.data(),
                EntryPoint::Instantiate,
                limits.deadline,
                rt,
            )),
            Ok(instance) => self.call_entries(core, &mut store, instance, entry, limits),
        };
        let mut state = store.into_data();
        state.flush_streams();
        RunReport::ended(outcome, started, instantiate, state)
    }

    fn call_entries(
        &self,
        inner: &CoreModule,
        store: &mut Store<JobState>,
        instance: Instance,
        entry: EntryPoint,
        limits: &RunLimits,
    ) -> Result<Vec<u8>, RunError> {
        let memory = instance
            .get_module_export(&mut *store, &inner.memory)
            .and_then(Extern::into_memory);
        store.data_mut().memory = memory;
        let main = match entry {
            EntryPoint::Merge => inner.merge.as_ref(),
            _ => Some(&inner.run),
        };
        if let Some(export) = &inner.initialize {
            store.data_mut().phase = Phase::Entry(EntryPoint::Initialize);
            let func = instance
                .get_module_export(&mut *store, export)
                .and_then(Extern::into_func)
                .and_then(|f| f.typed::<(), ()>(&*store).ok())
                .ok_or_else(|| RunError::Instantiate {
                    message: "export `_initialize` is not a () -> () function".into(),
                })?;
            let returned = func.call(&mut *store, ());
            if let Some(end) =
                self.ended(store, returned.map(|()| 0), EntryPoint::Initialize, limits)
            {
                return end;
            }
        }
        let steps = [(inner.init.as_ref(), EntryPoint::Init), (main, entry)];
        for (export, step) in steps {
            let Some(export) = export else { continue };
            store.data_mut().phase = Phase::Entry(step);
            let func =
                entry_func(store, &instance, export).ok_or_else(|| RunError::Instantiate {
                    message: format!("export `{}` is not a () -> i32 function", step.name()),
                })?;
            let returned = func.call(&mut *store, ());
            if let Some(end) = self.ended(store, returned, step, limits) {
                return end;
            }
        }
        Ok(std::mem::take(&mut store.data_mut().result))
    }

    /// Whether the run ends after an entry point returned `returned`:
    /// `None` to go on (it returned 0), else the run's outcome. A
    /// `proc_exit` (ABI v1.1) ends the run there, with code 0 as a success
    /// (the result is what was emitted so far).
    fn ended(
        &self,
        store: &mut Store<JobState>,
        returned: wasmtime::Result<i32>,
        step: EntryPoint,
        limits: &RunLimits,
    ) -> Option<Result<Vec<u8>, RunError>> {
        let state = store.data();
        if let Some(size) = state.too_large {
            return Some(Err(RunError::ResultTooLarge {
                size,
                limit: state.max_result_bytes,
            }));
        }
        let code = match returned {
            Ok(0) => return None,
            Ok(code) => code,
            Err(e) if e.downcast_ref::<ProcExit>() == Some(&ProcExit(0)) => {
                return Some(Ok(std::mem::take(&mut store.data_mut().result)));
            }
            Err(e) => {
                let runtime = &self.inner.runtime;
                return Some(Err(classify(e, state, step, limits.deadline, runtime)));
            }
        };
        Some(Err(RunError::Failed {
            entry: step,
            code,
            message: state.fail.clone().unwrap_or_default(),
        }))
    }
}

fn entry_func(
    store: &mut Store<JobState>,
    instance: &Instance,
    export: &ModuleExport,
) -> Option<wasmtime::TypedFunc<(), i32>> {
    instance
        .get_module_export(&mut *store, export)?
        .into_func()?
        .typed::<(), i32>(&*store)
        .ok()
}

/// How often, in ticks, a cancellable run checks whether it was cancelled.
pub const CANCEL_CHECK_TICKS: u64 = 5;

/// A switch another thread flips to stop a run
/// ([`JobModule::run_cancellable`]). Cheap to clone; every clone is the
/// same switch.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Stops the runs watching this token (and any later one).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The error a cancelled run's epoch callback raises, told apart from the
/// deadline's interrupt by [`classify`].
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the run was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Interrupts the store's code `deadline` (within a tick) after now, or
/// earlier when `cancel` is flipped.
pub(crate) fn arm_deadline<T>(
    store: &mut Store<T>,
    deadline: Duration,
    rt: &RuntimeInner,
    cancel: Option<&CancelToken>,
) {
    let ticks = deadline_ticks(deadline, rt.config.tick());
    match cancel {
        None => store.set_epoch_deadline(ticks),
        Some(cancel) => watch_cancel(store, ticks, cancel.clone()),
    }
}

/// The deadline in steps of [`CANCEL_CHECK_TICKS`]: at each step the run
/// stops if `cancel` was flipped, and at the last one it is interrupted as
/// a plain deadline would (the same `ticks` in all).
fn watch_cancel<T>(store: &mut Store<T>, ticks: u64, cancel: CancelToken) {
    let first = CANCEL_CHECK_TICKS.min(ticks).max(1);
    let mut left = ticks.saturating_sub(first);
    store.set_epoch_deadline(first);
    store.epoch_deadline_callback(move |_| {
        if cancel.is_cancelled() {
            return Err(wasmtime::Error::new(Cancelled));
        }
        if left == 0 {
            return Ok(UpdateDeadline::Interrupt);
        }
        let next = CANCEL_CHECK_TICKS.min(left);
        left -= next;
        Ok(UpdateDeadline::Continue(next))
    });
}

/// Epoch ticks for a deadline: one more than the deadline's whole ticks, so
/// the interrupt comes between `deadline` and `deadline + tick`, never
/// before.
pub(crate) fn deadline_ticks(deadline: Duration, tick: Duration) -> u64 {
    let tick = tick.as_nanos().max(1);
    let ticks = deadline.as_nanos().div_ceil(tick).saturating_add(1);
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// What an error from wasmtime (instantiation or a call) means for the run.
pub(crate) fn classify(
    error: wasmtime::Error,
    state: &JobState,
    entry: EntryPoint,
    deadline: Duration,
    rt: &RuntimeInner,
) -> RunError {
    if let Some(size) = state.too_large {
        return RunError::ResultTooLarge {
            size,
            limit: state.max_result_bytes,
        };
    }
    if let Some(requested) = state.limiter.refused {
        return RunError::OutOfMemory {
            entry,
            requested,
            limit: state.limiter.memory_bytes,
        };
    }
    if error.is::<Cancelled>() {
        return RunError::Cancelled { entry };
    }
    // An exit ends the run as a failure with its code (proc_exit(0) in a
    // core module's entry point never gets here: it is a success there).
    let exit = match (
        error.downcast_ref::<ProcExit>(),
        error.downcast_ref::<I32Exit>(),
    ) {
        (Some(ProcExit(code)), _) => Some((*code, "proc_exit", "before its run was done")),
        (_, Some(I32Exit(code))) => Some((*code, "exit", "before returning a result")),
        _ => None,
    };
    if let Some((code, call, when)) = exit {
        return RunError::Failed {
            entry,
            code,
            message: state
                .fail
                .clone()
                .unwrap_or_else(|| format!("the job called {call}({code}) {when}")),
        };
    }
    let trap = error.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::Interrupt) {
        return RunError::DeadlineExceeded { entry, deadline };
    }
    if error.is::<PoolConcurrencyLimitError>() {
        return RunError::Busy {
            limit: rt.config.max_concurrent_runs,
        };
    }
    let host = error.downcast_ref::<crate::host::HostTrap>();
    if entry == EntryPoint::Instantiate && trap.is_none() && host.is_none() {
        return RunError::Instantiate {
            message: format!("{error:#}"),
        };
    }
    let cause = match (trap, host) {
        (Some(trap), _) => trap.to_string(),
        (None, Some(host)) => host.to_string(),
        (None, None) => format!("{error:#}"),
    };
    let message = match error.downcast_ref::<WasmBacktrace>() {
        Some(bt) if !bt.frames().is_empty() => {
            let frames = bt.to_string();
            let frames = frames
                .strip_prefix("error while executing at wasm backtrace:")
                .unwrap_or(&frames);
            format!("{cause}\nwasm backtrace:{frames}")
        }
        _ => cause,
    };
    RunError::Trap {
        entry,
        message,
        fail: state.fail.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_never_early() {
        let tick = Duration::from_millis(10);
        assert_eq!(deadline_ticks(Duration::from_millis(100), tick), 11);
        assert_eq!(deadline_ticks(Duration::from_millis(101), tick), 12);
        assert_eq!(deadline_ticks(Duration::ZERO, tick), 1);
        assert_eq!(deadline_ticks(Duration::MAX, tick), u64::MAX);
    }
}

//! The WASI 0.2 a component sees: wasmtime-wasi's implementation, given
//! nothing outside the run. The same promises as ABI v1.1's preview 1
//! subset (wasi/): no files (no preopened directory), no network (every
//! address refused, no name lookup), no environment or arguments, an empty
//! stdin; the clocks read the epoch's time plus the virtual time slept;
//! randomness is the run's deterministic stream; stdout and stderr become
//! the job's log lines.
//!
//! Why wasmtime-wasi and not our own, as for preview 1: a component's
//! runtime (CPython, SpiderMonkey) imports ~90 functions over 30 resources
//! of WASI 0.2 (streams, pollables, descriptors, sockets), whose canonical
//! ABI lifting wasmtime-wasi already does and tests; what it reaches outside
//! the process is each behind a capability we leave out. What would not be
//! deterministic in it (the clocks, randomness, sleeping) is replaced here.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use super::ComponentState;
use crate::wasi::{DeterministicRandom, VirtualTime};

/// The WASI package whose monotonic clock is replaced (the version
/// wasmtime-wasi defines; components importing any 0.2.x resolve to it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// What a run's standard output or error keeps before its lines are
/// logged: the log budget twice over (the rest is dropped, as ABI v1.1's
/// `fd_write` drops what the log cannot keep).
const PIPE_BYTES: usize = 2 * crate::abi::MAX_LOG_BYTES;

/// One run's sandboxed WASI context, and the pipes its stdout and stderr
/// write to.
pub(crate) fn context(
    time: VirtualTime,
    random: DeterministicRandom,
) -> (WasiCtx, LogPipe, LogPipe) {
    let stdout = LogPipe::default();
    let stderr = LogPipe::default();
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(WallClock(time.clone()))
        .monotonic_clock(MonotonicClock(time))
        .secure_random(random)
        .insecure_random(DeterministicRandom::new(0, 0, "insecure"))
        .insecure_random_seed(0)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    (b.build(), stdout, stderr)
}

/// Replaces the monotonic clock's subscriptions (wasmtime-wasi sleeps for
/// real): a sleep is ready at once and advances the virtual time instead,
/// so `time.sleep(1)` costs nothing and reads the same on every node.
pub(crate) fn link_virtual_sleep(linker: &mut Linker<ComponentState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, ComponentState>, (duration,): (u64,)| {
            let state = store.data_mut();
            let until = state.job.wasi.time.elapsed_ns().saturating_add(duration);
            sleep(state, until)
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, ComponentState>, (instant,): (u64,)| {
            let state = store.data_mut();
            let until = state.job.wasi.time.elapsed_at_monotonic(instant);
            sleep(state, until)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn sleep(
    state: &mut ComponentState,
    until_elapsed: u64,
) -> wasmtime::Result<(Resource<DynPollable>,)> {
    let sleep = state.table.push(VirtualSleep {
        time: state.job.wasi.time.clone(),
        until_elapsed,
    })?;
    Ok((wasmtime_wasi::p2::subscribe(&mut state.table, sleep)?,))
}

/// A sleep until `until_elapsed` virtual nanoseconds: ready at once, it
/// moves the virtual time there (never back).
struct VirtualSleep {
    time: VirtualTime,
    until_elapsed: u64,
}

#[wasmtime_wasi::async_trait]
impl Pollable for VirtualSleep {
    async fn ready(&mut self) {
        self.time.advance_to(self.until_elapsed);
    }
}

struct WallClock(VirtualTime);

impl HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.realtime_at(self.0.elapsed_ns()))
    }
}

struct MonotonicClock(VirtualTime);

impl HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.monotonic_at(self.0.elapsed_ns())
    }
}

/// Standard output or error of a run: kept in memory up to
/// [`PIPE_BYTES`], then logged line by line when the run ends. A write
/// past the bound is accepted and dropped (and counted), never an error:
/// a job that prints too much loses lines, not its run.
#[derive(Clone, Default)]
pub(crate) struct LogPipe(Arc<Mutex<PipeBuffer>>);

#[derive(Default)]
struct PipeBuffer {
    bytes: Vec<u8>,
    dropped: bool,
}

impl LogPipe {
    fn write(&self, bytes: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = PIPE_BYTES.saturating_sub(buf.bytes.len());
        buf.dropped |= bytes.len() > room;
        buf.bytes.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// What was written, and whether some of it was dropped.
    pub(crate) fn take(&self) -> (Vec<u8>, bool) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (
            std::mem::take(&mut buf.bytes),
            std::mem::take(&mut buf.dropped),
        )
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        LogPipe::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always room: what does not fit is dropped (see LogPipe).
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        LogPipe::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

//! ABI v1.1: the sandboxed subset of `wasi_snapshot_preview1` a job may
//! import (sdk/ABI.md, "WASI: what a module built for it sees").
//!
//! Toolchains that target WASI (Go's `GOOS=wasip1`, wasi-libc, Rust's
//! `wasm32-wasip1`) import a handful of these functions from their runtime
//! whether the job uses them or not. Every one of the 46 functions is linked
//! with its real signature, so any such module instantiates; none of them
//! reaches outside the run:
//! - `fd_write` to 1 or 2 becomes the job's log lines (bounded like `log`);
//! - clocks read the epoch's own time, advanced only by sleeps, which return
//!   at once: the same run gives the same values on every node;
//! - `random_get` is a stream determined by (job, epoch, dc);
//! - arguments and environment are empty; `proc_exit` ends the run;
//! - every other call gets an error code (`EBADF` where it names a
//!   descriptor: there are no files, directories or sockets), never access.

mod poll;
mod state;

use epochd_job_sys::wasi::{self as sys, Ty};
use wasmtime::{Caller, Engine, FuncType, Linker, Val, ValType};

use std::ops::Range;

use crate::host::{region_of, with_memory, Ctx, Res};
use crate::state::JobState;

pub(crate) use state::{DeterministicRandom, ProcExit, VirtualTime, WasiState};

pub use epochd_job_sys::wasi::MODULE as WASI_MODULE;

/// WASI error numbers used here (`errno` in the preview 1 witx).
mod errno {
    pub(super) const SUCCESS: i32 = 0;
    pub(super) const BADF: i32 = 8;
    pub(super) const INVAL: i32 = 28;
    pub(super) const NOSYS: i32 = 52;
    pub(super) const SPIPE: i32 = 70;
}

/// The functions served by a function of their own, below. Every other
/// one only returns an error code ([`refusal`]).
const SERVED: &[&str] = &[
    "args_get",
    "environ_get",
    "args_sizes_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_close",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_read",
    "fd_seek",
    "fd_tell",
    "fd_write",
    "poll_oneoff",
    "proc_exit",
    "sched_yield",
    "random_get",
];

/// What an unserved function returns: `ENOSYS` for a signal, `EBADF` for
/// the rest, which all name a descriptor (a file, directory or socket),
/// and there is none but 0-2.
fn refusal(name: &str) -> i32 {
    if name == "proc_raise" {
        errno::NOSYS
    } else {
        errno::BADF
    }
}

/// The signature of preview 1 function `name` in wasm text form, and its
/// static name, if there is such a function.
pub(crate) fn function(name: &str) -> Option<(&'static str, String)> {
    let (name, params, errno) = sys::function(name)?;
    let params: Vec<&str> = params.iter().map(|t| wat(*t)).collect();
    let mut text = String::from("(func");
    if !params.is_empty() {
        text.push_str(&format!(" (param {})", params.join(" ")));
    }
    if errno {
        text.push_str(" (result i32)");
    }
    text.push(')');
    Some((name, text))
}

fn wat(t: Ty) -> &'static str {
    match t {
        Ty::I32 => "i32",
        Ty::I64 => "i64",
    }
}

fn val_type(t: Ty) -> ValType {
    match t {
        Ty::I32 => ValType::I32,
        Ty::I64 => ValType::I64,
    }
}

/// The bytes `ptr .. ptr + len` of the memory, or a trap naming
/// `wasi_snapshot_preview1.<func>`.
fn region(mem: &[u8], ptr: i32, len: u64, func: &str, what: &str) -> Res<Range<usize>> {
    region_of(WASI_MODULE, mem, ptr, len, func, what)
}

/// Defines every preview 1 function in `linker`.
pub(crate) fn link(engine: &Engine, l: &mut Linker<JobState>) -> Res<()> {
    let m = WASI_MODULE;
    l.func_wrap(m, "args_get", empty_list)?;
    l.func_wrap(m, "environ_get", empty_list)?;
    l.func_wrap(m, "args_sizes_get", |c: Ctx<'_>, n: i32, size: i32| {
        empty_sizes(c, n, size, "args_sizes_get")
    })?;
    l.func_wrap(m, "environ_sizes_get", |c: Ctx<'_>, n: i32, size: i32| {
        empty_sizes(c, n, size, "environ_sizes_get")
    })?;
    l.func_wrap(m, "clock_res_get", clock_res_get)?;
    l.func_wrap(m, "clock_time_get", clock_time_get)?;
    l.func_wrap(m, "fd_close", fd_close)?;
    l.func_wrap(m, "fd_fdstat_get", fd_fdstat_get)?;
    l.func_wrap(m, "fd_fdstat_set_flags", fd_fdstat_set_flags)?;
    l.func_wrap(m, "fd_read", fd_read)?;
    l.func_wrap(m, "fd_seek", fd_seek)?;
    l.func_wrap(m, "fd_tell", fd_tell)?;
    l.func_wrap(m, "fd_write", fd_write)?;
    l.func_wrap(m, "poll_oneoff", poll::poll_oneoff)?;
    l.func_wrap(m, "proc_exit", proc_exit)?;
    l.func_wrap(m, "sched_yield", || errno::SUCCESS)?;
    l.func_wrap(m, "random_get", random_get)?;
    for (name, params, _) in sys::FUNCTIONS {
        if SERVED.contains(name) {
            continue;
        }
        let code = refusal(name);
        let ty = FuncType::new(engine, params.iter().map(|t| val_type(*t)), [ValType::I32]);
        l.func_new(
            m,
            name,
            ty,
            move |_: Caller<'_, JobState>, _: &[Val], results: &mut [Val]| {
                results[0] = Val::I32(code);
                Ok(())
            },
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Arguments and environment: empty.

fn empty_list(_: Ctx<'_>, _list: i32, _buf: i32) -> i32 {
    errno::SUCCESS
}

/// `args_sizes_get` and `environ_sizes_get` (`func`): zero of each.
fn empty_sizes(mut caller: Ctx<'_>, count: i32, size: i32, func: &str) -> Res<i32> {
    with_memory(&mut caller, |mem, _| {
        write_u32(mem, count, 0, func)?;
        write_u32(mem, size, 0, func)?;
        Ok(errno::SUCCESS)
    })
}

// ---------------------------------------------------------------------------
// Clocks: the epoch's time.

/// realtime, monotonic, process CPU time, thread CPU time.
const CLOCKS: u32 = 4;

fn clock_res_get(mut caller: Ctx<'_>, id: i32, out: i32) -> Res<i32> {
    if id as u32 >= CLOCKS {
        return Ok(errno::INVAL);
    }
    with_memory(&mut caller, |mem, _| {
        write_u64(mem, out, 1, "clock_res_get")?;
        Ok(errno::SUCCESS)
    })
}

fn clock_time_get(mut caller: Ctx<'_>, id: i32, _precision: i64, out: i32) -> Res<i32> {
    if id as u32 >= CLOCKS {
        return Ok(errno::INVAL);
    }
    with_memory(&mut caller, |mem, state| {
        let now = state.wasi.clock(id as u32);
        write_u64(mem, out, now, "clock_time_get")?;
        Ok(errno::SUCCESS)
    })
}

// ---------------------------------------------------------------------------
// Descriptors: 0 (empty), 1 and 2 (the job's log), nothing else.

const STDIN: i32 = 0;
const STDOUT: i32 = 1;
const STDERR: i32 = 2;

fn is_stdio(fd: i32) -> bool {
    (STDIN..=STDERR).contains(&fd)
}

/// Accepted and ignored on 0-2: nothing is opened, so nothing closes.
fn fd_close(_: Ctx<'_>, fd: i32) -> i32 {
    stdio_noop(fd)
}

/// A character device: read-only for 0, write-only for 1 and 2.
fn fd_fdstat_get(mut caller: Ctx<'_>, fd: i32, out: i32) -> Res<i32> {
    if !is_stdio(fd) {
        return Ok(errno::BADF);
    }
    const CHARACTER_DEVICE: u8 = 2;
    const RIGHT_FD_READ: u64 = 1 << 1;
    const RIGHT_FD_WRITE: u64 = 1 << 6;
    with_memory(&mut caller, |mem, _| {
        let at = region(mem, out, 24, "fd_fdstat_get", "destination")?;
        let stat = &mut mem[at];
        stat.fill(0);
        stat[0] = CHARACTER_DEVICE;
        let rights = if fd == STDIN {
            RIGHT_FD_READ
        } else {
            RIGHT_FD_WRITE
        };
        stat[8..16].copy_from_slice(&rights.to_le_bytes());
        Ok(errno::SUCCESS)
    })
}

/// Accepted and ignored on 0-2 (runtimes set them non-blocking).
fn fd_fdstat_set_flags(_: Ctx<'_>, fd: i32, _flags: i32) -> i32 {
    stdio_noop(fd)
}

fn stdio_noop(fd: i32) -> i32 {
    if is_stdio(fd) {
        errno::SUCCESS
    } else {
        errno::BADF
    }
}

/// Standard input is empty: reading it gives the end of input at once.
fn fd_read(mut caller: Ctx<'_>, fd: i32, _iovs: i32, _len: i32, nread: i32) -> Res<i32> {
    if fd != STDIN {
        return Ok(errno::BADF);
    }
    with_memory(&mut caller, |mem, _| {
        write_u32(mem, nread, 0, "fd_read")?;
        Ok(errno::SUCCESS)
    })
}

/// 0-2 are streams: seeking them is `ESPIPE`, as on a terminal.
fn fd_seek(_: Ctx<'_>, fd: i32, _offset: i64, _whence: i32, _out: i32) -> i32 {
    stream_position(fd)
}

fn fd_tell(_: Ctx<'_>, fd: i32, _out: i32) -> i32 {
    stream_position(fd)
}

fn stream_position(fd: i32) -> i32 {
    if is_stdio(fd) {
        errno::SPIPE
    } else {
        errno::BADF
    }
}

/// Writes to 1 and 2 become log lines (stdout `info`, stderr `warn`), cut
/// at newlines; what does not fit the run's log budget is counted as
/// dropped, and the write still reports every byte written.
fn fd_write(mut caller: Ctx<'_>, fd: i32, iovs: i32, len: i32, nwritten: i32) -> Res<i32> {
    if fd != STDOUT && fd != STDERR {
        return Ok(errno::BADF);
    }
    with_memory(&mut caller, |mem, state| {
        let list = region(mem, iovs, u64::from(len as u32) * 8, "fd_write", "iovecs")?;
        let mut total: u32 = 0;
        for iov in mem[list].chunks_exact(8) {
            let ptr = u32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
            let n = u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
            let data = region(mem, ptr as i32, u64::from(n), "fd_write", "buffer")?;
            state.write_stream(fd == STDERR, &mem[data]);
            total = total.saturating_add(n);
        }
        write_u32(mem, nwritten, total, "fd_write")?;
        Ok(errno::SUCCESS)
    })
}

// ---------------------------------------------------------------------------
// The process.

/// Ends the run: with code 0 as a success (what was emitted is the result),
/// with any other as a failure carrying the code.
fn proc_exit(_: Ctx<'_>, code: i32) -> Res<()> {
    Err(wasmtime::Error::new(ProcExit(code)))
}

fn random_get(mut caller: Ctx<'_>, buf: i32, len: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let at = region(mem, buf, u64::from(len as u32), "random_get", "buffer")?;
        state.wasi.random.fill(&mut mem[at]);
        Ok(errno::SUCCESS)
    })
}

// ---------------------------------------------------------------------------
// Guest memory.

fn write_u32(mem: &mut [u8], ptr: i32, value: u32, func: &str) -> Res<()> {
    let at = region(mem, ptr, 4, func, "destination")?;
    mem[at].copy_from_slice(&value.to_le_bytes());
    Ok(())
}

fn write_u64(mem: &mut [u8], ptr: i32, value: u64, func: &str) -> Res<()> {
    let at = region(mem, ptr, 8, func, "destination")?;
    mem[at].copy_from_slice(&value.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_read_as_wasm_text() {
        assert_eq!(
            function("clock_time_get").unwrap().1,
            "(func (param i32 i64 i32) (result i32))"
        );
        assert_eq!(function("proc_exit").unwrap().1, "(func (param i32))");
        assert_eq!(function("sched_yield").unwrap().1, "(func (result i32))");
        assert!(function("fd_open").is_none());
        let mem = [0u8; 16];
        let trap = region(&mem, 12, 8, "fd_write", "iovecs").unwrap_err();
        assert!(
            trap.to_string()
                .contains("wasi_snapshot_preview1.fd_write: iovecs 0xc..0x14"),
            "{trap}"
        );
        for name in SERVED {
            assert!(function(name).is_some(), "{name}");
        }
    }
}

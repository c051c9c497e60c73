//! What one run's Store holds: the epoch it reads (a reference, never a
//! copy), its handle table, its config and merge inputs, what it emitted and
//! logged, and its memory limiter.

use std::collections::HashMap;
use std::fmt;

use epochd_decode::{EpochMeta, SharedEpoch};
use wasmtime::{Memory, ResourceLimiter};

use crate::abi::{MAX_FAIL_MESSAGE_BYTES, MAX_LOG_BYTES, MAX_LOG_LINES};
use crate::error::EntryPoint;
use crate::wasi::WasiState;

/// Which part of a run is executing: decides what the host functions allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The submission's ABI check: no epoch, no config.
    Check,
    /// An entry point of a run or merge.
    Entry(EntryPoint),
}

/// A log line's level (the `level` argument of `log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// 0.
    Error,
    /// 1.
    Warn,
    /// 2.
    Info,
    /// 3, and any other value.
    Debug,
}

impl LogLevel {
    fn from_guest(level: i32) -> LogLevel {
        match level {
            0 => LogLevel::Error,
            1 => LogLevel::Warn,
            2 => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        })
    }
}

/// One line a job logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// The text (invalid UTF-8 replaced by U+FFFD).
    pub message: String,
}

/// A column of the epoch, by position: top-level, or a container's keys or
/// values. Resolved against the epoch on every call (a few loads), so the
/// state borrows nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnRef {
    /// `columns[i]` over the epoch's rows.
    Top(u32),
    /// `containers[c].keys` over the container's entries.
    Keys(u32),
    /// `containers[c].values[v]` over the container's entries.
    Values(u32, u32),
}

/// What a handle points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Handle {
    Column(ColumnRef),
    Container(u32),
}

/// The memory cap of one run, remembering a refusal so that the trap it
/// causes is reported as [`crate::RunError::OutOfMemory`].
#[derive(Debug)]
pub(crate) struct Limiter {
    /// The cap of each linear memory.
    pub(crate) memory_bytes: usize,
    pub(crate) table_elements: usize,
    /// The size a refused `memory.grow` (or initial memory) asked for.
    pub(crate) refused: Option<usize>,
    /// The largest size any memory was given (initial or grown).
    pub(crate) largest: usize,
    /// How many core instances, memories and tables a run may have.
    instances: usize,
    memories: usize,
    tables: usize,
}

impl Limiter {
    /// The limits of a core module's run: one instance and one memory.
    pub(crate) fn core(memory_bytes: usize, table_elements: usize) -> Limiter {
        Limiter::new(memory_bytes, table_elements, 1, 1, 4)
    }

    /// The limits of a component's run: its core instances (CPython is
    /// several modules linked in one component), each memory capped alike.
    pub(crate) fn component(memory_bytes: usize, table_elements: usize) -> Limiter {
        use crate::engine::{COMPONENT_CORE_INSTANCES, COMPONENT_MEMORIES, COMPONENT_TABLES};
        Limiter::new(
            memory_bytes,
            table_elements,
            COMPONENT_CORE_INSTANCES,
            COMPONENT_MEMORIES,
            COMPONENT_TABLES,
        )
    }

    fn new(
        memory_bytes: usize,
        table_elements: usize,
        instances: usize,
        memories: usize,
        tables: usize,
    ) -> Limiter {
        Limiter {
            memory_bytes,
            table_elements,
            refused: None,
            largest: 0,
            instances,
            memories,
            tables,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.refused = Some(desired);
            // An error (not `Ok(false)`, which makes `memory.grow` return -1)
            // traps right here: ABI.md makes memory beyond the cap a failed
            // run, and a guest that ignores -1 and retries would otherwise
            // spin until its deadline.
            wasmtime::bail!(
                "linear memory would grow to {desired} bytes, past the run's cap of {}",
                self.memory_bytes
            );
        }
        self.largest = self.largest.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // `table.grow` returns -1, as the spec allows.
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

/// Everything one run's host functions see.
pub(crate) struct JobState {
    pub(crate) phase: Phase,
    /// The epoch being processed; `None` in a merge and in the ABI check.
    pub(crate) epoch: Option<SharedEpoch>,
    /// Epoch, dc and seq (of the merged epoch in a merge).
    pub(crate) meta: EpochMeta,
    pub(crate) config: Vec<u8>,
    /// The two results being merged.
    pub(crate) inputs: Option<[Vec<u8>; 2]>,
    /// The guest's exported memory, once instantiated.
    pub(crate) memory: Option<Memory>,
    pub(crate) handles: Vec<Handle>,
    pub(crate) handle_ids: HashMap<Handle, i32>,
    pub(crate) result: Vec<u8>,
    pub(crate) max_result_bytes: usize,
    /// The size of an `emit` that exceeded `max_result_bytes`.
    pub(crate) too_large: Option<usize>,
    pub(crate) fail: Option<String>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) log_bytes: usize,
    pub(crate) logs_dropped: u32,
    pub(crate) limiter: Limiter,
    /// The WASI functions' clock, random stream and unfinished lines.
    pub(crate) wasi: WasiState,
}

impl JobState {
    pub(crate) fn new(
        phase: Phase,
        epoch: Option<SharedEpoch>,
        meta: EpochMeta,
        config: Vec<u8>,
        limiter: Limiter,
        max_result_bytes: usize,
        random_seed: u64,
    ) -> JobState {
        let wasi = WasiState::new(random_seed, meta.epoch, &meta.dc);
        JobState {
            phase,
            epoch,
            meta,
            config,
            inputs: None,
            memory: None,
            handles: Vec::new(),
            handle_ids: HashMap::new(),
            result: Vec::new(),
            max_result_bytes,
            too_large: None,
            fail: None,
            logs: Vec::new(),
            log_bytes: 0,
            logs_dropped: 0,
            limiter,
            wasi,
        }
    }

    /// The state of the submission check: no epoch (epoch 0, no dc), no
    /// config, no result allowed.
    pub(crate) fn for_check(limiter: Limiter) -> JobState {
        let meta = EpochMeta {
            epoch: 0,
            dc: String::new(),
            seq: 0,
        };
        JobState::new(Phase::Check, None, meta, Vec::new(), limiter, 0, 0)
    }

    /// The handle for `target`, the same one every time it is asked for (so
    /// the table is bounded by the epoch's columns and containers, whatever
    /// the guest does).
    pub(crate) fn handle(&mut self, target: Handle) -> i32 {
        if let Some(&h) = self.handle_ids.get(&target) {
            return h;
        }
        let h = self.handles.len() as i32;
        self.handles.push(target);
        self.handle_ids.insert(target, h);
        h
    }

    /// What handle `h` points at.
    pub(crate) fn lookup(&self, h: i32) -> Option<Handle> {
        usize::try_from(h)
            .ok()
            .and_then(|i| self.handles.get(i))
            .copied()
    }

    /// Keeps a log line within the per-run budget.
    pub(crate) fn log(&mut self, level: i32, bytes: &[u8]) {
        let room = MAX_LOG_BYTES - self.log_bytes;
        if self.logs.len() >= MAX_LOG_LINES || room == 0 {
            self.logs_dropped += 1;
            return;
        }
        let message = utf8_prefix(bytes, room);
        self.log_bytes += message.len();
        self.logs.push(LogLine {
            level: LogLevel::from_guest(level),
            message,
        });
    }

    /// Keeps the `fail` message (cut to [`MAX_FAIL_MESSAGE_BYTES`]).
    pub(crate) fn fail(&mut self, bytes: &[u8]) {
        self.fail = Some(utf8_prefix(bytes, MAX_FAIL_MESSAGE_BYTES));
    }
}

/// At most `max` bytes of `bytes` as text, cut at a character boundary,
/// invalid UTF-8 replaced.
pub(crate) fn utf8_prefix(bytes: &[u8], max: usize) -> String {
    let mut text =
        String::from_utf8_lossy(&bytes[..bytes.len().min(max.saturating_add(4))]).into_owned();
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_prefix_cuts_at_a_boundary() {
        assert_eq!(utf8_prefix("héllo".as_bytes(), 2), "h");
        assert_eq!(utf8_prefix("héllo".as_bytes(), 3), "hé");
        assert_eq!(utf8_prefix(b"\xffab", 10), "\u{fffd}ab");
        assert_eq!(utf8_prefix(b"abc", 0), "");
    }
}

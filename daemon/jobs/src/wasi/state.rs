//! What the WASI functions keep for one run: the virtual clock, the random
//! stream, and the unfinished lines written to stdout and stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::abi::MAX_LOG_BYTES;
use crate::state::JobState;

/// The error `proc_exit` raises to end the run with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcExit(pub(crate) i32);

impl std::fmt::Display for ProcExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the job called proc_exit({})", self.0)
    }
}

impl std::error::Error for ProcExit {}

/// One run's WASI state.
pub(crate) struct WasiState {
    pub(crate) time: VirtualTime,
    pub(crate) random: DeterministicRandom,
    stdout: UnfinishedLine,
    stderr: UnfinishedLine,
}

/// What a stream holds of a line whose newline has not come yet.
#[derive(Default)]
struct UnfinishedLine {
    bytes: Vec<u8>,
    /// The line outgrew the log budget and was logged cut short: the rest
    /// of it, up to its newline, is dropped (not logged as more lines).
    cut: bool,
}

impl WasiState {
    /// The state of a run of job `seed` over (`epoch`, `dc`).
    pub(crate) fn new(seed: u64, epoch: u64, dc: &str) -> WasiState {
        WasiState {
            time: VirtualTime::new(epoch),
            random: DeterministicRandom::new(seed, epoch, dc),
            stdout: UnfinishedLine::default(),
            stderr: UnfinishedLine::default(),
        }
    }

    /// Clock `id`'s reading: realtime (0) and monotonic (1) are the epoch's
    /// time (unix nanoseconds) plus the virtual time slept; the CPU-time
    /// clocks (2, 3) are the virtual time alone.
    pub(super) fn clock(&self, id: u32) -> u64 {
        self.clock_at(id, self.time.elapsed_ns())
    }

    /// Clock `id`'s reading when `elapsed` virtual nanoseconds had passed.
    pub(super) fn clock_at(&self, id: u32, elapsed: u64) -> u64 {
        match id {
            0 => self.time.realtime_at(elapsed),
            1 => self.time.monotonic_at(elapsed),
            _ => elapsed,
        }
    }
}

/// A run's virtual time: the epoch's first nanosecond (unix time) plus the
/// time slept since, advanced by sleeps and nothing else, so that a run
/// reads the same times on any node. Cheap to clone: the clones are one
/// clock (the component WASI's clocks and sleeps share it).
#[derive(Debug, Clone)]
pub(crate) struct VirtualTime {
    epoch_ns: u64,
    elapsed: Arc<AtomicU64>,
}

impl VirtualTime {
    pub(crate) fn new(epoch: u64) -> VirtualTime {
        VirtualTime {
            epoch_ns: epoch.saturating_mul(1_000_000_000),
            elapsed: Arc::default(),
        }
    }

    /// Nanoseconds slept so far.
    pub(crate) fn elapsed_ns(&self) -> u64 {
        self.elapsed.load(Ordering::Relaxed)
    }

    /// Sleeps until `elapsed` nanoseconds have passed (never back).
    pub(crate) fn advance_to(&self, elapsed: u64) {
        self.elapsed.fetch_max(elapsed, Ordering::Relaxed);
    }

    /// The realtime clock when `elapsed` nanoseconds had passed.
    pub(crate) fn realtime_at(&self, elapsed: u64) -> u64 {
        self.epoch_ns.saturating_add(elapsed)
    }

    /// The monotonic clock then: the same, but starting at 1 at epoch 0
    /// (the submission check runs there): Go's runtime takes a zero
    /// monotonic clock for a broken one. An offset, not a clamp, so that
    /// every nanosecond slept moves it by one and a sleep until an instant
    /// ends at that instant.
    pub(crate) fn monotonic_at(&self, elapsed: u64) -> u64 {
        self.epoch_ns.max(1).saturating_add(elapsed)
    }

    /// The virtual time slept when the monotonic clock reads `instant`
    /// (0 for an instant before the run's start).
    pub(crate) fn elapsed_at_monotonic(&self, instant: u64) -> u64 {
        instant.saturating_sub(self.monotonic_at(0))
    }
}

/// The stream `random_get` reads: SHA-256 in counter mode over a key made
/// of (job, epoch, dc). Deterministic, so a run gives the same result on
/// every node and every retry; not secret (anyone who knows the job, epoch
/// and dc can compute it), which no job needs.
#[derive(Clone)]
pub(crate) struct DeterministicRandom {
    key: [u8; 32],
    block: u64,
    buf: [u8; 32],
    used: usize,
}

impl DeterministicRandom {
    pub(crate) fn new(seed: u64, epoch: u64, dc: &str) -> DeterministicRandom {
        let mut key = Sha256::new();
        key.update(b"epochd random_get v1\0");
        key.update(seed.to_le_bytes());
        key.update(epoch.to_le_bytes());
        key.update((dc.len() as u64).to_le_bytes());
        key.update(dc.as_bytes());
        DeterministicRandom {
            key: key.finalize().into(),
            block: 0,
            buf: [0; 32],
            used: 32,
        }
    }

    /// Fills `out` with the next bytes of the stream.
    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        let mut at = 0;
        while at < out.len() {
            if self.used == self.buf.len() {
                let mut block = Sha256::new();
                block.update(self.key);
                block.update(self.block.to_le_bytes());
                self.buf = block.finalize().into();
                self.block += 1;
                self.used = 0;
            }
            let n = (self.buf.len() - self.used).min(out.len() - at);
            out[at..at + n].copy_from_slice(&self.buf[self.used..self.used + n]);
            self.used += n;
            at += n;
        }
    }
}

/// `random_get`'s stream is also the component WASI's random source.
impl rand_core::TryRng for DeterministicRandom {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, out: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(out);
        Ok(())
    }
}

/// Log levels of the two streams (the `level` values of `log`).
const STDOUT_LEVEL: i32 = 2;
const STDERR_LEVEL: i32 = 1;

impl JobState {
    /// Bytes written to stdout or stderr: every complete line becomes a log
    /// line; an unfinished one waits for its newline, for the end of the
    /// run, or until it alone would fill the run's log budget (it is then
    /// logged cut short, once, and the rest of it dropped).
    pub(crate) fn write_stream(&mut self, stderr: bool, mut bytes: &[u8]) {
        let level = if stderr { STDERR_LEVEL } else { STDOUT_LEVEL };
        loop {
            let newline = bytes.iter().position(|&b| b == b'\n');
            let part = &bytes[..newline.unwrap_or(bytes.len())];
            let line = self.stream(stderr);
            if !line.cut {
                // One byte past the budget tells a line that outgrew it.
                let room = (MAX_LOG_BYTES + 1).saturating_sub(line.bytes.len());
                line.bytes.extend_from_slice(&part[..part.len().min(room)]);
            }
            let Some(newline) = newline else {
                if !line.cut && line.bytes.len() > MAX_LOG_BYTES {
                    let text = std::mem::take(&mut line.bytes);
                    line.cut = true;
                    self.log(level, &text);
                }
                return;
            };
            let line = std::mem::take(self.stream(stderr));
            if !line.cut {
                self.log(level, &line.bytes);
            }
            bytes = &bytes[newline + 1..];
        }
    }

    /// Logs what is left of unfinished lines, at the end of a run.
    pub(crate) fn flush_streams(&mut self) {
        for stderr in [false, true] {
            let line = std::mem::take(self.stream(stderr));
            if !line.bytes.is_empty() {
                let level = if stderr { STDERR_LEVEL } else { STDOUT_LEVEL };
                self.log(level, &line.bytes);
            }
        }
    }

    fn stream(&mut self, stderr: bool) -> &mut UnfinishedLine {
        if stderr {
            &mut self.wasi.stderr
        } else {
            &mut self.wasi.stdout
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(seed: u64, epoch: u64, dc: &str, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        DeterministicRandom::new(seed, epoch, dc).fill(&mut out);
        out
    }

    #[test]
    fn the_random_stream_depends_on_job_epoch_and_dc_only() {
        let a = stream(1, 100, "ams4", 100);
        assert_eq!(a, stream(1, 100, "ams4", 100));
        assert_ne!(a, stream(2, 100, "ams4", 100));
        assert_ne!(a, stream(1, 101, "ams4", 100));
        assert_ne!(a, stream(1, 100, "lhr1", 100));
        // Read in pieces, the stream is the same bytes.
        let mut r = DeterministicRandom::new(1, 100, "ams4");
        let mut pieces = vec![0; 100];
        let (x, rest) = pieces.split_at_mut(7);
        r.fill(x);
        let (y, z) = rest.split_at_mut(40);
        r.fill(y);
        r.fill(z);
        assert_eq!(pieces, a);
        assert_ne!(a[..32], a[32..64]);
    }
}

//! The threads that decode commits: a rayon pool of the daemon's own, so the
//! CPU time of decoding is the CPU time of these threads, whatever else runs
//! in the process (`epochd_daemon_decode_cpu_seconds_total`; the cluster
//! benchmark's "deserialisation CPU").
//!
//! A decode fans its chunks out over rayon; timing the calling thread would
//! miss that work, and timing the wall clock would count waiting for a core.

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The decode pool and the ids of its threads.
pub struct Decoders {
    pool: rayon::ThreadPool,
    /// Linux thread ids of the pool's threads, as they start.
    tids: Arc<Mutex<Vec<u32>>>,
}

impl Decoders {
    /// A pool of one thread per core.
    pub fn new() -> Decoders {
        let tids: Arc<Mutex<Vec<u32>>> = Arc::default();
        let started = tids.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("epochd-decode-{i}"))
            .start_handler(move |_| {
                if let Some(tid) = own_tid() {
                    started.lock().expect("decoder ids").push(tid);
                }
            })
            .build()
            // Only fails when the OS refuses a thread; then nothing runs.
            .expect("starting the decode threads");
        Decoders { pool, tids }
    }

    /// Runs `decode` on the pool (its parallel parts too), blocking the caller.
    pub fn run<T: Send>(&self, decode: impl FnOnce() -> T + Send) -> T {
        self.pool.install(decode)
    }

    /// CPU time the pool's threads have used so far (from the kernel's
    /// per-thread accounting, nanosecond resolution).
    pub fn cpu_time(&self) -> Duration {
        let tids = self.tids.lock().expect("decoder ids").clone();
        let nanos = tids.iter().filter_map(|tid| thread_cpu_ns(*tid)).sum();
        Duration::from_nanos(nanos)
    }
}

impl Default for Decoders {
    fn default() -> Self {
        Decoders::new()
    }
}

/// This thread's Linux id, from `/proc/thread-self` (`PID/task/TID`).
fn own_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// CPU time of a thread of this process, ns: the first field of its
/// `schedstat`.
fn thread_cpu_ns(tid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pools_cpu_time_counts_work_done_on_its_threads() {
        let decoders = Decoders::new();
        let before = decoders.cpu_time();
        let sum: u64 = decoders.run(|| {
            use rayon::prelude::*;
            (0..4_000_000u64)
                .into_par_iter()
                .map(|i| i.wrapping_mul(i) % 7)
                .sum()
        });
        assert!(sum > 0);
        let used = decoders.cpu_time() - before;
        assert!(used > Duration::ZERO, "no CPU time counted: {used:?}");
    }
}

//! CPU time and page faults per thread of this process, from `/proc` (Linux), to see
//! where a timed section's time went without a profiler: take a [`snapshot`] before
//! and after, and [`CpuSnapshot::since`] gives what each thread used in between.
//!
//! Resolution is the kernel's clock tick (1/100 s), so this suits sections of a
//! second or more. Elsewhere than Linux snapshots are empty. For shorter sections on
//! one thread, [`thread_time`] reads the calling thread's CPU clock to the nanosecond.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// What one thread used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreadCpu {
    /// Kernel thread id.
    pub tid: u32,
    /// Thread name (`comm`); unnamed threads carry their creator's name.
    pub name: String,
    /// Whether this is the process's main thread.
    pub main: bool,
    /// Seconds of user CPU.
    pub user: f64,
    /// Seconds of kernel CPU.
    pub system: f64,
    /// Minor page faults (fresh or moved pages, no disk read).
    pub minor_faults: u64,
}

impl ThreadCpu {
    /// User plus kernel seconds.
    pub fn cpu(&self) -> f64 {
        self.user + self.system
    }
}

/// The counters of every thread of this process at one moment.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    threads: BTreeMap<u32, ThreadCpu>,
}

/// Reads the counters of every live thread (empty where `/proc` is not there).
pub fn snapshot() -> CpuSnapshot {
    let pid = std::process::id();
    let mut threads = BTreeMap::new();
    if let Ok(entries) = fs::read_dir("/proc/self/task") {
        for entry in entries.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue; // the thread ended meanwhile
            };
            if let Some(mut thread) = parse_stat(&stat) {
                thread.tid = tid;
                thread.main = tid == pid;
                threads.insert(tid, thread);
            }
        }
    }
    CpuSnapshot { threads }
}

/// The counters of the calling thread since it started (`None` where `/proc` is not
/// there): for threads that end before the closing [`snapshot`].
pub fn this_thread() -> Option<ThreadCpu> {
    let stat = fs::read_to_string("/proc/thread-self/stat").ok()?;
    let tid = stat.split_whitespace().next()?.parse().ok()?;
    let mut thread = parse_stat(&stat)?;
    thread.tid = tid;
    thread.main = tid == std::process::id();
    Some(thread)
}

/// CPU time (user + kernel) the calling thread has used since it started, from its
/// own CPU clock (`CLOCK_THREAD_CPUTIME_ID`): nanosecond resolution, for timing
/// sections of milliseconds or less on one thread. Take it before and after; the
/// difference is what the thread used in between.
pub fn thread_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Parses `/proc/.../stat`: `tid (comm) state ppid ...`; the name may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<ThreadCpu> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    // Fields after the name, from field 3 (`state`): minflt is field 10, utime 14,
    // stime 15.
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(ThreadCpu {
        tid: 0,
        name,
        main: false,
        user: field(14)? as f64 / TICKS_PER_SEC,
        system: field(15)? as f64 / TICKS_PER_SEC,
        minor_faults: field(10)?,
    })
}

impl CpuSnapshot {
    /// What each thread used since `earlier` (threads started since count from zero;
    /// threads that ended meanwhile are missing: take the snapshot before they end).
    pub fn since(&self, earlier: &CpuSnapshot) -> Vec<ThreadCpu> {
        self.threads
            .values()
            .map(|now| {
                let before = earlier.threads.get(&now.tid);
                ThreadCpu {
                    user: now.user - before.map_or(0.0, |b| b.user),
                    system: now.system - before.map_or(0.0, |b| b.system),
                    minor_faults: now.minor_faults - before.map_or(0, |b| b.minor_faults),
                    ..now.clone()
                }
            })
            .collect()
    }

    /// Threads in the snapshot.
    pub fn threads(&self) -> impl Iterator<Item = &ThreadCpu> {
        self.threads.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194304 1234 0 0 0 250 30 0 0 20 0 1 0";
        let t = parse_stat(stat).unwrap();
        assert_eq!(t.name, "my (odd) name");
        assert_eq!(t.minor_faults, 1234);
        assert_eq!(t.user, 2.5);
        assert_eq!(t.system, 0.3);
    }

    #[test]
    fn sees_this_thread_use_cpu() {
        let before = snapshot();
        if before.threads().next().is_none() {
            return; // not Linux
        }
        let mut x = 0u64;
        let watch = crate::Stopwatch::start();
        while watch.secs() < 0.05 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let used = snapshot().since(&before);
        assert!(used.iter().all(|t| t.cpu() >= 0.0));
        assert!(!used.is_empty());
    }

    #[test]
    fn the_thread_clock_counts_this_threads_work() {
        let before = thread_time();
        let mut x = 0u64;
        let watch = crate::Stopwatch::start();
        while watch.secs() < 0.02 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let used = thread_time() - before;
        // Busy for 20 ms of wall time: most of it on the CPU, never more.
        assert!(used.as_secs_f64() > 0.002, "{used:?}");
        assert!(used.as_secs_f64() < watch.secs() + 0.001, "{used:?}");
    }
}

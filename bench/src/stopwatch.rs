//! Wall-clock timing.

use std::time::{Duration, Instant};

/// A running wall clock, started when made.
///
/// ```
/// let watch = epochd_bench::Stopwatch::start();
/// let sum: u64 = (0..1000).sum();
/// assert_eq!(sum, 499_500);
/// assert!(watch.secs() >= 0.0);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    started: Instant,
}

impl Stopwatch {
    /// Starts timing now.
    pub fn start() -> Stopwatch {
        Stopwatch {
            started: Instant::now(),
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Seconds since the start.
    pub fn secs(&self) -> f64 {
        self.elapsed().as_secs_f64()
    }
}

/// Runs `f` and returns its result with the wall time it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let watch = Stopwatch::start();
    let out = f();
    (out, watch.elapsed())
}

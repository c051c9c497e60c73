//! What is recorded per instance and per path, and the process's resident memory
//! from `/proc/self/status` (its peak reset through `/proc/self/clear_refs`).

use std::time::Duration;

use anyhow::Result;
use epochd_bench::cpu::{this_thread, thread_time};

/// One instance: from creating its store to dropping it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Instance {
    /// Wall seconds: a fresh store and instance (and, for the mapping, growing
    /// the memory with the epoch mapped in).
    pub setup: f64,
    /// Of `setup`, growing the memory and mapping the epoch (mapping only).
    pub map: f64,
    /// Wall seconds of the scan. For the host copy (`JobModule::run`) this is
    /// the rest of the run after instantiation: the scan, then dropping the
    /// store (the run does not report the two apart).
    pub scan: f64,
    /// Wall seconds dropping the store (mapping only; inside `scan` for the
    /// host copy).
    pub teardown: f64,
    /// CPU seconds of the thread (its own clock) over the whole instance.
    pub cpu: f64,
    /// Minor page faults of the thread over the whole instance.
    pub faults: u64,
}

impl Instance {
    /// Setup, scan and teardown: the instance's whole wall time.
    pub fn wall(&self) -> f64 {
        self.setup + self.scan + self.teardown
    }
}

/// Runs one instance (`work` fills in the wall-clock parts and returns the sum it
/// computed); adds its CPU time and page faults, read around it on this thread.
pub fn instance(work: impl FnOnce(&mut Instance) -> Result<i64>) -> Result<(Instance, i64)> {
    let faults = this_thread().map_or(0, |t| t.minor_faults);
    let mut sample = Instance::default();
    let start = thread_time();
    let sum = work(&mut sample)?;
    sample.cpu = secs(thread_time() - start);
    sample.faults = this_thread().map_or(0, |t| t.minor_faults) - faults;
    Ok((sample, sum))
}

/// Seconds in a duration.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// One path in one round: N instances one after another.
#[derive(Debug, Clone, Default)]
pub struct PathSample {
    /// Every instance, in order.
    pub instances: Vec<Instance>,
    /// Resident memory of the process before the first instance, bytes.
    pub rss_before: u64,
    /// Peak resident memory during the path, bytes (`None` when the peak could
    /// not be reset before it).
    pub rss_peak: Option<u64>,
    /// Resident memory after the last instance, bytes.
    pub rss_after: u64,
}

impl PathSample {
    /// The mean of `f` over the instances.
    pub fn mean(&self, f: impl Fn(&Instance) -> f64) -> f64 {
        if self.instances.is_empty() {
            return f64::NAN;
        }
        self.instances.iter().map(f).sum::<f64>() / self.instances.len() as f64
    }

    /// Peak resident memory above the start, bytes.
    pub fn peak_growth(&self) -> Option<f64> {
        self.rss_peak
            .map(|peak| peak as f64 - self.rss_before as f64)
    }

    /// Resident memory left after the path above the start, bytes.
    pub fn kept(&self) -> f64 {
        self.rss_after as f64 - self.rss_before as f64
    }
}

/// Times a path: resets the process's peak RSS, reads the RSS, runs `work`,
/// reads the peak and the RSS again.
pub fn path(work: impl FnOnce(&mut Vec<Instance>) -> Result<()>) -> Result<PathSample> {
    // "5" resets the peak RSS (VmHWM) to the current RSS (proc(5), Linux 4.0+).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before = status("VmRSS:").unwrap_or(0);
    let mut instances = Vec::new();
    work(&mut instances)?;
    let rss_peak = status("VmHWM:").filter(|_| reset);
    let rss_after = status("VmRSS:").unwrap_or(0);
    Ok(PathSample {
        instances,
        rss_before,
        rss_peak,
        rss_after,
    })
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

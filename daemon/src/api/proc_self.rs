//! What `/proc/self` says of this process: its CPU time and its peak
//! resident memory (`epochd_process_*` in /metrics).

/// utime + stime of `/proc/self/stat`, in seconds. Linux reports them in
/// USER_HZ ticks, 100 per second on every architecture it exports to user
/// space.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// VmHWM of `/proc/self/status`, bytes.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn this_process_has_used_cpu_and_memory() {
        // Busy until the kernel has counted a tick (10 ms) of it.
        let start = Instant::now();
        let mut spin = 0u64;
        while super::cpu_seconds() == Some(0.0) && start.elapsed() < Duration::from_secs(5) {
            spin = (0..100_000u64).fold(spin, |a, i| a.wrapping_add(i * i));
        }
        std::hint::black_box(spin);
        assert!(super::cpu_seconds().is_some_and(|s| s > 0.0));
        assert!(super::peak_resident_bytes().is_some_and(|b| b > 1 << 20));
    }
}

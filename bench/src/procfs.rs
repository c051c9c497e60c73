//! What Linux says about a process and a directory tree: resident memory, CPU time, open file
//! descriptors, disk usage, the machine's load. Each reader returns `None` (or zero)
//! where `/proc` or the path is not there, so a benchmark still prints its table on a
//! system without them.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Resident memory of a process, bytes: now (`VmRSS`) and its peak so far (`VmHWM`),
/// from `/proc/<pid>/status`; `None` once the process is gone.
pub fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    };
    Some((kib("VmRSS:")? * 1024, kib("VmHWM:")? * 1024))
}

/// Open file descriptors of a process: the entries of `/proc/<pid>/fd` (readable for
/// our own children).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Disk space a file or directory tree takes, bytes, as `du` counts it: allocated
/// blocks (`st_blocks` × 512), not apparent sizes, so sparse and preallocated files
/// (sled's, the WAL's) count what they really hold. Symbolic links are not followed;
/// files that vanish while walking (compaction, retention) are skipped.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return own;
    };
    own + entries
        .filter_map(Result::ok)
        .map(|e| disk_usage(&e.path()))
        .sum::<u64>()
}

/// The machine's load averages over 1, 5 and 15 minutes (`/proc/loadavg`).
pub fn loadavg() -> Option<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_has_memory_and_descriptors() {
        let (rss, peak) = memory(std::process::id()).expect("/proc on Linux");
        assert!(rss > 0 && peak >= rss);
        assert!(open_fds(std::process::id()).expect("/proc on Linux") >= 3);
    }

    #[test]
    fn disk_usage_counts_allocated_blocks_of_the_whole_tree() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/a"), vec![1u8; 100_000]).unwrap();
        // A sparse file: 10 MB apparent, nothing written.
        let sparse = fs::File::create(dir.path().join("sparse")).unwrap();
        sparse.set_len(10_000_000).unwrap();
        let used = disk_usage(dir.path());
        assert!(used >= 100_000, "{used}");
        assert!(used < 1_000_000, "sparse space counted: {used}");
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
    }

    #[test]
    fn a_gone_process_has_no_memory() {
        assert_eq!(memory(u32::MAX), None);
    }
}

/// CPU seconds a process has used (all its threads, live and ended).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcCpu {
    /// User seconds.
    pub user: f64,
    /// Kernel seconds.
    pub system: f64,
}

impl ProcCpu {
    /// Reads `/proc/<pid>/stat` (zero where `/proc` is not there).
    pub fn of(pid: u32) -> ProcCpu {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the name, from field 3 (`state`): utime is 14, stime 15, in
        // clock ticks (USER_HZ, 100 on Linux).
        let fields: Vec<&str> = stat
            .rfind(')')
            .map_or("", |close| &stat[close + 1..])
            .split_whitespace()
            .collect();
        let field = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0) as f64
                / 100.0
        };
        ProcCpu {
            user: field(14),
            system: field(15),
        }
    }

    /// What was used since `earlier`.
    pub fn since(self, earlier: ProcCpu) -> ProcCpu {
        ProcCpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }

    /// User plus kernel seconds.
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

//! The cgroup filesystem: file names, file formats, and the few I/O helpers everything
//! else is built on. Parsing and formatting are pure functions so they are unit-tested
//! without a kernel (which matters for cgroup v2 on hosts where only v1 has the cpu
//! controller).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{CgroupError, CgroupVersion, CpuStats};

/// Linux errno values used below (stable kernel ABI).
pub(crate) mod errno {
    /// No such process: a thread exited before it could be moved.
    pub const ESRCH: i32 = 3;
    /// Device or resource busy: rmdir of a populated cgroup.
    pub const EBUSY: i32 = 16;
    /// No such device: a write to a file of a removed cgroup.
    pub const ENODEV: i32 = 19;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// Operation not supported: a refused cgroup.type or cgroup.subtree_control change.
    pub const EOPNOTSUPP: i32 = 95;
}

/// The file listing (and accepting) the thread ids of a cgroup.
pub(crate) fn threads_file(version: CgroupVersion) -> &'static str {
    match version {
        CgroupVersion::V1 => "tasks",
        CgroupVersion::V2 => "cgroup.threads",
    }
}

/// Reads a cgroup file.
pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|e| CgroupError::io("read", path, e))
}

/// Writes `value` to a cgroup file in one `write(2)`, as the kernel expects.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    write_raw(path, value).map_err(|e| match e.raw_os_error() {
        Some(errno::EINVAL) | Some(errno::EOPNOTSUPP) => CgroupError::Refused {
            path: path.to_path_buf(),
            value: value.to_string(),
            source: e,
        },
        _ => CgroupError::io("write", path, e),
    })
}

/// Writes `value` to a cgroup file in one `write(2)`, returning the raw error.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Creates a cgroup directory; an existing one is fine.
pub(crate) fn mkdir(path: &Path) -> Result<(), CgroupError> {
    match fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CgroupError::io("create", path, e)),
    }
}

/// The thread ids listed in a `tasks` / `cgroup.threads` file.
pub(crate) fn parse_tids(content: &str) -> Vec<u32> {
    content
        .split_ascii_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// The cgroup subdirectories of `dir`, deepest first (children before their parent),
/// `dir` itself last.
pub(crate) fn dirs_post_order(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut out = Vec::new();
    collect_post_order(dir, &mut out)?;
    Ok(out)
}

fn collect_post_order(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::io("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| CgroupError::io("list", dir, e))?;
        let is_dir = entry
            .file_type()
            .map_err(|e| CgroupError::io("stat", &entry.path(), e))?
            .is_dir();
        if is_dir {
            collect_post_order(&entry.path(), out)?;
        }
    }
    out.push(dir.to_path_buf());
    Ok(())
}

/// Formats a cgroup v2 `cpu.max` value: `"<quota> <period>"`, or `"max <period>"`
/// for no quota.
pub(crate) fn format_cpu_max(quota_us: Option<u64>, period_us: u64) -> String {
    match quota_us {
        Some(q) => format!("{q} {period_us}"),
        None => format!("max {period_us}"),
    }
}

/// Parses a cgroup v2 `cpu.max` value into (quota, period) in microseconds; `None`
/// quota means "max" (no cap).
pub(crate) fn parse_cpu_max(content: &str) -> Option<(Option<u64>, u64)> {
    let mut parts = content.split_ascii_whitespace();
    let quota = match parts.next()? {
        "max" => None,
        q => Some(q.parse().ok()?),
    };
    let period = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((quota, period))
}

/// Parses a cgroup v1 `cpu.cfs_quota_us` value: `-1` means no cap.
pub(crate) fn parse_v1_quota(content: &str) -> Option<Option<u64>> {
    let v: i64 = content.trim().parse().ok()?;
    if v < 0 {
        Some(None)
    } else {
        Some(Some(v as u64))
    }
}

/// One `key value` line of a flat-keyed cgroup file (`cpu.stat`).
fn keyed(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|line| {
        let mut parts = line.split_ascii_whitespace();
        if parts.next()? == key {
            parts.next()?.parse().ok()
        } else {
            None
        }
    })
}

/// Parses a cgroup v2 `cpu.stat`. `usage_usec` is always there (the kernel keeps it
/// even without the cpu controller); the throttling lines only with the cpu controller.
pub(crate) fn parse_v2_cpu_stat(content: &str) -> Option<CpuStats> {
    Some(CpuStats {
        usage: Duration::from_micros(keyed(content, "usage_usec")?),
        nr_periods: keyed(content, "nr_periods"),
        nr_throttled: keyed(content, "nr_throttled"),
        throttled: keyed(content, "throttled_usec").map(Duration::from_micros),
    })
}

/// Parses a cgroup v1 `cpu.stat` (throttling only; usage comes from cpuacct).
pub(crate) fn parse_v1_cpu_stat(content: &str, usage: Duration) -> CpuStats {
    CpuStats {
        usage,
        nr_periods: keyed(content, "nr_periods"),
        nr_throttled: keyed(content, "nr_throttled"),
        throttled: keyed(content, "throttled_time").map(Duration::from_nanos),
    }
}

/// Parses a cgroup v1 `cpuacct.usage` (nanoseconds).
pub(crate) fn parse_cpuacct_usage(content: &str) -> Option<Duration> {
    content.trim().parse().ok().map(Duration::from_nanos)
}

/// One line of `/proc/<pid>/cgroup`: `id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcCgroup {
    /// Hierarchy id; 0 is the v2 unified hierarchy.
    pub id: u32,
    /// The v1 controllers bound to the hierarchy (empty for v2; `name=systemd`
    /// style named hierarchies appear as such).
    pub controllers: Vec<String>,
    /// The cgroup's path in that hierarchy, starting with '/'.
    pub path: String,
}

/// Parses `/proc/<pid>/cgroup`.
pub(crate) fn parse_proc_cgroup(content: &str) -> Vec<ProcCgroup> {
    content
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?.parse().ok()?;
            let controllers = parts
                .next()?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            let path = parts.next()?.to_string();
            Some(ProcCgroup {
                id,
                controllers,
                path,
            })
        })
        .collect()
}

/// The v1 path of the hierarchy holding `controller`, or for `None` the v2 path.
pub(crate) fn own_path<'a>(lines: &'a [ProcCgroup], controller: Option<&str>) -> Option<&'a str> {
    lines
        .iter()
        .find(|l| match controller {
            Some(c) => l.controllers.iter().any(|x| x == c),
            None => l.id == 0 && l.controllers.is_empty(),
        })
        .map(|l| l.path.as_str())
}

/// Joins a `/proc/self/cgroup` path (absolute within its hierarchy) under a mount point.
pub(crate) fn join_cgroup_path(mount: &Path, cgroup_path: &str) -> PathBuf {
    let rel = cgroup_path.trim_start_matches('/');
    if rel.is_empty() {
        mount.to_path_buf()
    } else {
        mount.join(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_round_trips() {
        assert_eq!(format_cpu_max(Some(20_000), 100_000), "20000 100000");
        assert_eq!(format_cpu_max(None, 100_000), "max 100000");
        assert_eq!(
            parse_cpu_max("20000 100000\n"),
            Some((Some(20_000), 100_000))
        );
        assert_eq!(parse_cpu_max("max 100000\n"), Some((None, 100_000)));
        for (q, p) in [
            (Some(1000), 1000),
            (None, 1_000_000),
            (Some(150_000), 100_000),
        ] {
            assert_eq!(parse_cpu_max(&format_cpu_max(q, p)), Some((q, p)));
        }
        assert_eq!(parse_cpu_max(""), None);
        assert_eq!(parse_cpu_max("max"), None);
        assert_eq!(parse_cpu_max("-1 100000"), None);
        assert_eq!(parse_cpu_max("1 2 3"), None);
    }

    #[test]
    fn v1_quota_parses() {
        assert_eq!(parse_v1_quota("-1\n"), Some(None));
        assert_eq!(parse_v1_quota("20000\n"), Some(Some(20_000)));
        assert_eq!(parse_v1_quota("x"), None);
    }

    #[test]
    fn v2_cpu_stat_with_and_without_the_cpu_controller() {
        // With the cpu controller enabled (Linux 6.x).
        let full = "usage_usec 123689\nuser_usec 100000\nsystem_usec 23689\n\
                    core_sched.force_idle_usec 0\nnr_periods 50\nnr_throttled 40\n\
                    throttled_usec 3800000\nnr_bursts 0\nburst_usec 0\n";
        let s = parse_v2_cpu_stat(full).unwrap();
        assert_eq!(s.usage, Duration::from_micros(123_689));
        assert_eq!(s.nr_periods, Some(50));
        assert_eq!(s.nr_throttled, Some(40));
        assert_eq!(s.throttled, Some(Duration::from_micros(3_800_000)));
        // Without it (what this crate's v2 placement test sees on a v1 host).
        let bare = "usage_usec 5\nuser_usec 5\nsystem_usec 0\nnice_usec 0\n";
        let s = parse_v2_cpu_stat(bare).unwrap();
        assert_eq!(s.usage, Duration::from_micros(5));
        assert_eq!(
            (s.nr_periods, s.nr_throttled, s.throttled),
            (None, None, None)
        );
        assert!(parse_v2_cpu_stat("user_usec 5\n").is_none());
    }

    #[test]
    fn v1_cpu_stat_and_cpuacct_usage() {
        let usage = parse_cpuacct_usage("2500000000\n").unwrap();
        assert_eq!(usage, Duration::from_millis(2500));
        let s = parse_v1_cpu_stat(
            "nr_periods 30\nnr_throttled 29\nthrottled_time 2400000000\nnr_bursts 0\nburst_time 0\n",
            usage,
        );
        assert_eq!(s.nr_throttled, Some(29));
        assert_eq!(s.throttled, Some(Duration::from_millis(2400)));
        assert_eq!(s.usage, usage);
        assert!(parse_cpuacct_usage("").is_none());
    }

    #[test]
    fn proc_cgroup_hybrid_and_pure_v2() {
        let hybrid = "9:name=systemd:/\n4:memory:/a/b\n2:cpuacct:/x\n1:cpu:/y\n0::/\n";
        let lines = parse_proc_cgroup(hybrid);
        assert_eq!(own_path(&lines, Some("cpu")), Some("/y"));
        assert_eq!(own_path(&lines, Some("cpuacct")), Some("/x"));
        assert_eq!(own_path(&lines, None), Some("/"));
        let comounted = "3:cpu,cpuacct:/system.slice/epochd.service\n";
        let lines = parse_proc_cgroup(comounted);
        assert_eq!(
            own_path(&lines, Some("cpuacct")),
            Some("/system.slice/epochd.service")
        );
        assert_eq!(own_path(&lines, None), None);
        let v2 = "0::/system.slice/epochd.service\n";
        let lines = parse_proc_cgroup(v2);
        assert_eq!(own_path(&lines, None), Some("/system.slice/epochd.service"));
        assert_eq!(own_path(&lines, Some("cpu")), None);
        // Paths may contain ':'.
        let odd = parse_proc_cgroup("0::/a:b\n");
        assert_eq!(odd[0].path, "/a:b");
    }

    #[test]
    fn cgroup_paths_join_under_mounts() {
        let m = Path::new("/sys/fs/cgroup");
        assert_eq!(join_cgroup_path(m, "/"), PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(
            join_cgroup_path(m, "/system.slice/x.service"),
            PathBuf::from("/sys/fs/cgroup/system.slice/x.service")
        );
    }

    #[test]
    fn tids_parse() {
        assert_eq!(parse_tids("12\n345\n"), vec![12, 345]);
        assert!(parse_tids("").is_empty());
    }
}

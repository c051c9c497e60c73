//! [`CpuCapConfig`]: where the cgroups go and how much CPU all jobs get together.

use std::path::PathBuf;

use crate::CgroupError;

/// Longest accepted job or parent cgroup name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Prefix of the default parent cgroup name, `epochd-<pid>`; stale cgroups with this
/// prefix are cleaned at [`crate::CpuCaps::open`].
pub const DEFAULT_NAME_PREFIX: &str = "epochd-";

/// Smallest CFS quota and period the kernel accepts, in microseconds (1 ms).
pub(crate) const MIN_QUOTA_US: u64 = 1_000;
/// Largest CFS period the kernel accepts, in microseconds (1 s).
pub(crate) const MAX_PERIOD_US: u64 = 1_000_000;

/// How to set up CPU caps for one daemon instance.
///
/// `validate()` touches no files; [`crate::CpuCaps::open`] calls it first.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CpuCapConfig {
    /// Name of this instance's parent cgroup, created in the daemon's own cgroup.
    /// Default: `None`, meaning `epochd-<pid>`. Same character rules as job names.
    pub name: Option<String>,
    /// CPU cap of all jobs together, in cores (1.5 = one and a half cores' worth of
    /// CPU time per period, spread over any number of cores). Default: `None`, meaning
    /// the cores available to this process minus [`CpuCapConfig::reserve_cores`]
    /// (1.5 on a 2-core machine).
    pub parent_cores: Option<f64>,
    /// Cores kept out of the jobs' reach for the store, ingestion and the daemon itself
    /// when `parent_cores` is not given, in cores. Default: 0.5.
    pub reserve_cores: f64,
    /// CFS enforcement period, in microseconds, for the parent and every job: a capped
    /// cgroup runs at most `cores * period_us` per period, then waits for the next one.
    /// Shorter periods throttle more smoothly but cost more scheduler work. Default:
    /// 100000 (100 ms, the kernel's default). Range: 1000 to 1000000.
    pub period_us: u64,
    /// Where the cgroup filesystem is mounted. Default: `/sys/fs/cgroup`. cgroup v1 is
    /// looked for in `cpu/` (or `cpu,cpuacct/`) and `cpuacct/` below it, cgroup v2 at
    /// this path itself or at `unified/` below it (hybrid hosts).
    pub mount_root: PathBuf,
}

impl Default for CpuCapConfig {
    fn default() -> Self {
        CpuCapConfig {
            name: None,
            parent_cores: None,
            reserve_cores: 0.5,
            period_us: 100_000,
            mount_root: PathBuf::from("/sys/fs/cgroup"),
        }
    }
}

impl CpuCapConfig {
    /// Checks every field without touching the filesystem.
    pub fn validate(&self) -> Result<(), CgroupError> {
        if let Some(name) = &self.name {
            validate_name(name)?;
        }
        if !(MIN_QUOTA_US..=MAX_PERIOD_US).contains(&self.period_us) {
            return Err(CgroupError::InvalidConfig {
                field: "period_us",
                reason: format!(
                    "is {}; it must be between {MIN_QUOTA_US} and {MAX_PERIOD_US} microseconds",
                    self.period_us
                ),
            });
        }
        if !self.reserve_cores.is_finite() || self.reserve_cores < 0.0 {
            return Err(CgroupError::InvalidConfig {
                field: "reserve_cores",
                reason: format!(
                    "is {}; it must be a number of cores >= 0",
                    self.reserve_cores
                ),
            });
        }
        let cores = self.resolved_parent_cores();
        let min = MIN_QUOTA_US as f64 / self.period_us as f64;
        if !cores.is_finite() || cores < min {
            let field = if self.parent_cores.is_some() {
                "parent_cores"
            } else {
                "reserve_cores"
            };
            return Err(CgroupError::InvalidConfig {
                field,
                reason: format!(
                    "leaves a parent cap of {cores} cores ({} cores available); the jobs' parent cap must be at least {min} cores (1 ms per period): lower reserve_cores or set parent_cores",
                    available_cores()
                ),
            });
        }
        Ok(())
    }

    /// The parent cgroup's name: [`CpuCapConfig::name`] or `epochd-<pid>`.
    pub fn resolved_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{DEFAULT_NAME_PREFIX}{}", std::process::id()))
    }

    /// The parent cap in cores: [`CpuCapConfig::parent_cores`] or the available cores
    /// minus [`CpuCapConfig::reserve_cores`].
    pub fn resolved_parent_cores(&self) -> f64 {
        self.parent_cores
            .unwrap_or_else(|| available_cores() - self.reserve_cores)
    }
}

/// Cores this process may use (affinity mask and, where Rust can see it, the cgroup
/// quota it already runs under).
fn available_cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// Checks that `name` can be a cgroup directory name: 1 to [`MAX_NAME_LEN`] bytes of
/// `A-Z a-z 0-9 - _ .`, not starting with '.' (so never `.` or `..`). Job names are
/// user input; this is what keeps them inside the parent cgroup.
pub fn validate_name(name: &str) -> Result<(), CgroupError> {
    let bad = |reason| {
        Err(CgroupError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is too long");
    }
    if name.starts_with('.') {
        return bad("it starts with '.' ('.' and '..' would leave the parent cgroup)");
    }
    if name.contains('/') {
        return bad("it contains '/'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return bad("it contains a character other than A-Z a-z 0-9 '-' '_' '.'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = CpuCapConfig::default();
        c.validate().unwrap();
        assert_eq!(c.resolved_name(), format!("epochd-{}", std::process::id()));
        assert_eq!(c.resolved_parent_cores(), available_cores() - 0.5);
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        let c = CpuCapConfig {
            period_us: 999,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("period_us"));
        let c = CpuCapConfig {
            parent_cores: Some(0.0),
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("parent_cores"));
        let c = CpuCapConfig {
            parent_cores: Some(f64::NAN),
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = CpuCapConfig {
            reserve_cores: 1000.0,
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("reserve_cores"));
        let c = CpuCapConfig {
            name: Some("../etc".into()),
            ..Default::default()
        };
        assert!(matches!(c.validate(), Err(CgroupError::InvalidName { .. })));
    }

    #[test]
    fn names() {
        for ok in [
            "a",
            "latency-p99",
            "err_rate.v2",
            "A1",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a b",
            "a\0b",
            "é",
            "a\n",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn config_deserializes_with_defaults_and_rejects_unknown_fields() {
        let c: CpuCapConfig = serde_json::from_str(r#"{"parent_cores": 1.25}"#).unwrap();
        assert_eq!(c.parent_cores, Some(1.25));
        assert_eq!(c.period_us, 100_000);
        assert!(serde_json::from_str::<CpuCapConfig>(r#"{"parent_core": 1}"#).is_err());
    }
}

//! The one error type of the crate.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while setting up or using CPU caps.
///
/// Every message says what went wrong and what to do about it. The variants for which
/// [`CgroupError::is_unavailable`] is true mean "this host cannot give CPU caps to this
/// process": the daemon should warn loudly and run its jobs with deadlines only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// There is no cgroup filesystem at the configured mount root (not Linux, a
    /// container without /sys/fs/cgroup, or a wrong `mount_root`).
    #[error("CPU caps unavailable: no cgroup filesystem at {root}; mount cgroupfs there (or set `mount_root` to where it is mounted), or run with deadlines only")]
    NoCgroupFs {
        /// The mount root that was looked at.
        root: PathBuf,
    },

    /// A cgroup filesystem exists, but no hierarchy this process can use has the cpu
    /// controller (or, on cgroup v1, its cpuacct companion).
    #[error("CPU caps unavailable: {detail}")]
    NoCpuController {
        /// The mount root that was looked at.
        root: PathBuf,
        /// What was found and how to fix it.
        detail: String,
    },

    /// cgroup v2 is in use but the daemon's cgroup cannot host a threaded subtree, so
    /// single threads cannot be placed in job cgroups.
    #[error("CPU caps unavailable: cgroup v2 threaded mode cannot be used at {path}: {source}; threaded cgroups need Linux 4.14 or later, and the daemon's own cgroup must have no populated domain (non-threaded) child cgroups and no domain controllers (memory, io) enabled in its cgroup.subtree_control; run epochd in a cgroup of its own (systemd: Delegate=cpu on its unit) or run with deadlines only")]
    NoThreadedMode {
        /// The file whose write was refused.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },

    /// The kernel refused a cgroup operation for lack of privilege.
    #[error("CPU caps unavailable: permission denied on {path}: {source}; creating cgroups and moving threads needs root (or a cgroup delegated to the daemon's user, systemd: Delegate=cpu); run epochd as root or run with deadlines only")]
    PermissionDenied {
        /// The file or directory concerned.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },

    /// The parent cgroup name is taken by a live user: threads sit in it, or this
    /// process has it open already.
    #[error("cgroup {path} is in use: {detail}; give this daemon instance another `name`, or stop the other one")]
    InUse {
        /// The parent cgroup's directory.
        path: PathBuf,
        /// Who uses it.
        detail: String,
    },

    /// A job (or parent cgroup) name cannot be used as a cgroup directory name.
    #[error("invalid cgroup name {name:?}: {reason}; use 1 to {max_len} characters from A-Z a-z 0-9 '-' '_' '.', not starting with '.'", max_len = crate::MAX_NAME_LEN)]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A job's CPU share is out of range.
    #[error("invalid CPU share {cores} for job {job:?}: {reason}; a job's share must be a number of cores with 0 < cores <= {max} (the parent cap) and at least {min} (1 ms per period)")]
    InvalidCores {
        /// The job's name.
        job: String,
        /// The share as given, in cores.
        cores: f64,
        /// The largest share allowed: the parent cap, in cores.
        max: f64,
        /// The smallest share allowed, in cores: 1 ms of quota per period.
        min: f64,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A [`crate::CpuCapConfig`] field is out of range.
    #[error("invalid CPU cap config: `{field}` {reason}")]
    InvalidConfig {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it, with the allowed range.
        reason: String,
    },

    /// The cgroup behind a [`crate::JobCgroup`] handle is gone: the job was removed with
    /// [`crate::CpuCaps::remove_job`], the [`crate::CpuCaps`] was closed, or someone
    /// removed the directory by hand.
    #[error("job cgroup {path} no longer exists (removed with remove_job, CpuCaps closed, or deleted by hand); get a new handle with CpuCaps::job")]
    JobRemoved {
        /// The job cgroup's directory.
        path: PathBuf,
    },

    /// A cgroup directory could not be removed because threads kept entering it.
    #[error("cannot remove cgroup {path}: still busy after moving its threads out {attempts} times ({source}); stop the threads that enter it, then remove it again")]
    RemoveBusy {
        /// The directory.
        path: PathBuf,
        /// How many times the threads were moved out before giving up.
        attempts: u32,
        /// The last rmdir error.
        #[source]
        source: io::Error,
    },

    /// The kernel refused a value written to a cgroup file (for example a quota above
    /// the parent's on cgroup v1).
    #[error("the kernel refused {value:?} written to {path}: {source}")]
    Refused {
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },

    /// Any other I/O error on the cgroup filesystem.
    #[error("could not {op} {path}: {source}")]
    Io {
        /// What was being done ("read", "create", "remove", ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },

    /// A cgroup file did not have the expected format.
    #[error("unexpected content in {path}: {content:?}; this kernel's cgroup file format is not supported")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it contained (truncated).
        content: String,
    },
}

impl CgroupError {
    /// True when this error means CPU caps cannot be had on this host for this process
    /// (no cgroupfs, no cpu controller, no threaded mode, no permission). The daemon
    /// should then warn loudly at start-up and run jobs with deadlines only. Other
    /// errors are bugs or bad input and should be reported as such.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            CgroupError::NoCgroupFs { .. }
                | CgroupError::NoCpuController { .. }
                | CgroupError::NoThreadedMode { .. }
                | CgroupError::PermissionDenied { .. }
        )
    }

    /// Maps an I/O error on `path` to the variant that says the most.
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> CgroupError {
        if source.kind() == io::ErrorKind::PermissionDenied {
            CgroupError::PermissionDenied {
                path: path.to_path_buf(),
                source,
            }
        } else {
            CgroupError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        }
    }

    pub(crate) fn parse(path: &Path, content: &str) -> CgroupError {
        let mut content = content.to_string();
        if content.len() > 200 {
            let mut end = 200;
            while !content.is_char_boundary(end) {
                end -= 1;
            }
            content.truncate(end);
        }
        CgroupError::Parse {
            path: path.to_path_buf(),
            content,
        }
    }
}

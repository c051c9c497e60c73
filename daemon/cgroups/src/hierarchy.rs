//! Finding the hierarchy with the cpu controller, and this process's own cgroup in it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cgfs;
use crate::{CgroupError, CgroupVersion};

/// Where this process's cgroups live: the hierarchy with the cpu controller and the
/// directory (this process's own cgroup there) under which the parent is created.
#[derive(Debug, Clone)]
pub(crate) struct Hierarchy {
    /// v1 or v2.
    pub version: CgroupVersion,
    /// This process's cgroup in the hierarchy with the cpu controller.
    pub base_cpu: PathBuf,
    /// cgroup v1 with cpuacct mounted on its own hierarchy: this process's cgroup there.
    /// `None` on v2 and when cpu and cpuacct are co-mounted.
    pub base_acct: Option<PathBuf>,
}

impl Hierarchy {
    /// The base directories: the cpu hierarchy's, then the separate cpuacct one's.
    pub fn bases(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.base_cpu.as_path()).chain(self.base_acct.as_deref())
    }
}

/// The v1 directory names the cpu controller is mounted under by systemd and friends.
const V1_CPU_DIRS: [&str; 3] = ["cpu", "cpu,cpuacct", "cpuacct,cpu"];

/// Looks for cgroup v1's cpu controller, then for cgroup v2 with the cpu controller
/// available to this process's cgroup. A controller is bound to one hierarchy at a
/// time, so at most one of the two can have it.
pub(crate) fn detect(mount_root: &Path) -> Result<Hierarchy, CgroupError> {
    if !mount_root.is_dir() {
        return Err(CgroupError::NoCgroupFs {
            root: mount_root.to_path_buf(),
        });
    }
    let own = fs::read_to_string("/proc/self/cgroup")
        .map(|s| cgfs::parse_proc_cgroup(&s))
        .unwrap_or_default();

    if let Some(cpu_mount) = V1_CPU_DIRS
        .iter()
        .map(|d| mount_root.join(d))
        .find(|d| d.join("cpu.cfs_quota_us").is_file())
    {
        let acct_mount = if cpu_mount.join("cpuacct.usage").is_file() {
            None
        } else {
            let acct = mount_root.join("cpuacct");
            if !acct.join("cpuacct.usage").is_file() {
                return Err(CgroupError::NoCpuController {
                    root: mount_root.to_path_buf(),
                    detail: format!(
                        "cgroup v1 has the cpu controller at {} but no cpuacct hierarchy at {} (needed to measure each job's CPU use); mount it (mount -t cgroup -o cpuacct cgroup {}) or run with deadlines only",
                        cpu_mount.display(),
                        acct.display(),
                        acct.display()
                    ),
                });
            }
            Some(acct)
        };
        let base_cpu = base_in(&cpu_mount, cgfs::own_path(&own, Some("cpu")));
        let base_acct = acct_mount.map(|m| base_in(&m, cgfs::own_path(&own, Some("cpuacct"))));
        return Ok(Hierarchy {
            version: CgroupVersion::V1,
            base_cpu,
            base_acct,
        });
    }

    let v2_root = [mount_root.to_path_buf(), mount_root.join("unified")]
        .into_iter()
        .find(|d| d.join("cgroup.controllers").is_file());
    let Some(v2_root) = v2_root else {
        let any_v1 = fs::read_dir(mount_root)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.path().join("cgroup.procs").is_file())
            })
            .unwrap_or(false);
        if !any_v1 {
            return Err(CgroupError::NoCgroupFs {
                root: mount_root.to_path_buf(),
            });
        }
        return Err(CgroupError::NoCpuController {
            root: mount_root.to_path_buf(),
            detail: format!(
                "cgroup v1 is mounted at {} but without the cpu controller (no cpu/cpu.cfs_quota_us), and there is no cgroup v2 hierarchy; mount it (mount -t cgroup -o cpu cgroup {}/cpu) or run with deadlines only",
                mount_root.display(),
                mount_root.display()
            ),
        });
    };
    let base = base_in(&v2_root, cgfs::own_path(&own, None));
    let controllers_file = base.join("cgroup.controllers");
    let controllers = cgfs::read(&controllers_file)?;
    if !controllers.split_ascii_whitespace().any(|c| c == "cpu") {
        let parent_hint = match base.parent() {
            Some(p) if base != v2_root => format!(
                "enable it for this process's cgroup (echo +cpu > {}/cgroup.subtree_control; systemd: Delegate=cpu on the unit)",
                p.display()
            ),
            _ => "the cpu controller is bound to a cgroup v1 hierarchy or disabled on the kernel command line (cgroup_no_v1=, systemd.unified_cgroup_hierarchy)".to_string(),
        };
        return Err(CgroupError::NoCpuController {
            root: mount_root.to_path_buf(),
            detail: format!(
                "cgroup v2 at {} does not offer the cpu controller to this process's cgroup {} ({} lists: {:?}); {parent_hint}; or run with deadlines only",
                v2_root.display(),
                base.display(),
                controllers_file.display(),
                controllers.trim()
            ),
        });
    }
    Ok(Hierarchy {
        version: CgroupVersion::V2,
        base_cpu: base,
        base_acct: None,
    })
}

/// This process's cgroup under `mount`, or `mount` itself when the path from
/// `/proc/self/cgroup` is not visible there (a container that mounts only its own
/// subtree without a cgroup namespace).
fn base_in(mount: &Path, own: Option<&str>) -> PathBuf {
    match own {
        Some(path) => {
            let dir = cgfs::join_cgroup_path(mount, path);
            if dir.is_dir() {
                dir
            } else {
                tracing::debug!(
                    mount = %mount.display(),
                    path,
                    "own cgroup not visible under the mount; using the mount's root"
                );
                mount.to_path_buf()
            }
        }
        None => mount.to_path_buf(),
    }
}

/// The `/proc/<pid>/cgroup` lines of the calling thread (for tests and diagnostics).
#[cfg(test)]
pub(crate) fn current_thread_cgroups() -> Vec<cgfs::ProcCgroup> {
    fs::read_to_string("/proc/thread-self/cgroup")
        .map(|s| cgfs::parse_proc_cgroup(&s))
        .unwrap_or_default()
}

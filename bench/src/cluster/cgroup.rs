//! One emulated node's cgroup (cgroup v1: the `cpu` and `cpuacct` controllers), so
//! the harness can cap a node's CPU and read what the node used, jobs included.
//!
//! The node is moved into its [`NodeCgroup`] before it starts ([`NodeCgroup::join_prefix`]).
//! epochd creates its job cgroups inside its own current cgroup, in both the cpu and the
//! cpuacct hierarchy (`daemon/cgroups/src/hierarchy.rs`), so they all nest below the
//! node's cgroup: its cap bounds the whole node, and `cpuacct.usage`, which is
//! hierarchical, counts every thread of the node and of its jobs.
//!
//! The mounts are found the way `daemon/cgroups/src/hierarchy.rs` finds them (not by
//! depending on that crate, so the benchmark measures the daemon from outside):
//! `cpu` (or a co-mounted `cpu,cpuacct`) under `/sys/fs/cgroup`, `cpuacct` next to it
//! when separate, and this process's own cgroup in each as the root below which the
//! node cgroups are made.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Where cgroup hierarchies are mounted.
const MOUNT_ROOT: &str = "/sys/fs/cgroup";
/// The v1 directory names the cpu controller is mounted under (as in the daemon).
const V1_CPU_DIRS: [&str; 3] = ["cpu", "cpu,cpuacct", "cpuacct,cpu"];
/// CFS period written with a cap: 100 ms, the kernel's default, so a cap of c cores is a
/// quota of c × 100 ms per period.
const PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel accepts (1 ms).
const MIN_QUOTA_US: u64 = 1_000;

/// The cpu and cpuacct hierarchies, at this process's own cgroup in each.
#[derive(Debug, Clone)]
struct Mounts {
    /// This process's cgroup in the hierarchy with the cpu controller.
    cpu_base: PathBuf,
    /// This process's cgroup in the separate cpuacct hierarchy; `None` when co-mounted.
    acct_base: Option<PathBuf>,
}

impl Mounts {
    /// Finds cgroup v1's cpu and cpuacct controllers, or says what is missing.
    fn detect() -> Result<Mounts> {
        let root = Path::new(MOUNT_ROOT);
        let Some(cpu_mount) = V1_CPU_DIRS
            .iter()
            .map(|d| root.join(d))
            .find(|d| d.join("cpu.cfs_quota_us").is_file())
        else {
            bail!(
                "no cgroup v1 cpu controller under {MOUNT_ROOT} (looked for {{cpu,cpu,cpuacct,cpuacct,cpu}}/cpu.cfs_quota_us); the cluster harness needs cgroup v1 cpu+cpuacct: mount them (mount -t cgroup -o cpu cgroup {MOUNT_ROOT}/cpu; mount -t cgroup -o cpuacct cgroup {MOUNT_ROOT}/cpuacct)"
            );
        };
        let acct_mount = if cpu_mount.join("cpuacct.usage").is_file() {
            None
        } else {
            let acct = root.join("cpuacct");
            if !acct.join("cpuacct.usage").is_file() {
                bail!(
                    "cgroup v1 has the cpu controller at {} but no cpuacct hierarchy at {} (needed to measure each node's CPU use); mount it (mount -t cgroup -o cpuacct cgroup {})",
                    cpu_mount.display(),
                    acct.display(),
                    acct.display()
                );
            }
            Some(acct)
        };
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        Ok(Mounts {
            cpu_base: base_in(&cpu_mount, own_path(&own, "cpu")),
            acct_base: acct_mount.map(|m| base_in(&m, own_path(&own, "cpuacct"))),
        })
    }

    /// The bases: the cpu hierarchy's, then the separate cpuacct one's.
    fn bases(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.cpu_base.as_path()).chain(self.acct_base.as_deref())
    }
}

/// The path in `/proc/self/cgroup` of the v1 hierarchy holding `controller`.
fn own_path<'a>(proc_cgroup: &'a str, controller: &str) -> Option<&'a str> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|c| c == controller)
            .then_some(path)
    })
}

/// This process's cgroup under `mount`, or `mount` itself when that path is not visible
/// there (a container that mounts only its own subtree), as the daemon does.
fn base_in(mount: &Path, own: Option<&str>) -> PathBuf {
    match own.map(|p| p.trim_start_matches('/')) {
        Some(rel) if !rel.is_empty() && mount.join(rel).is_dir() => mount.join(rel),
        _ => mount.to_path_buf(),
    }
}

/// Whether cgroup v1's cpu and cpuacct controllers are mounted here and this process may
/// make cgroups in them (tried by making and removing a probe cgroup in each).
pub fn available() -> bool {
    let Ok(mounts) = Mounts::detect() else {
        return false;
    };
    let probe = format!("epochd-bench-probe-{}", std::process::id());
    let writable = mounts.bases().all(|base| {
        let dir = base.join(&probe);
        let made = fs::create_dir(&dir).is_ok();
        // An empty cgroup is removed with rmdir (its control files go with it).
        made && fs::remove_dir(&dir).is_ok()
    });
    writable
}

/// A cgroup `<own cgroup>/<relative>` in the cpu hierarchy and, at the same relative
/// path, in the cpuacct hierarchy (one directory when they are co-mounted). Dropping it
/// removes it and what is below it, deepest first, best effort: a cgroup that still has
/// processes in it stays (and a line on stderr says so).
#[derive(Debug)]
pub struct NodeCgroup {
    /// The cgroup in the cpu hierarchy.
    cpu_dir: PathBuf,
    /// The cgroup in the separate cpuacct hierarchy; `None` when co-mounted.
    acct_dir: Option<PathBuf>,
    /// Directories this made (parents first), so Drop removes those and no others.
    made: Vec<PathBuf>,
}

impl NodeCgroup {
    /// Creates the cgroup `relative` (e.g. `epochd-bench/n0`; parents too) below this
    /// process's own cgroup in the cpu and cpuacct hierarchies. A leftover of the same
    /// name (a previous run killed hard) is removed first; if it still has processes, this
    /// fails rather than count their CPU. `cores`: an optional CPU cap, as
    /// `cpu.cfs_period_us` = 100000 and `cpu.cfs_quota_us` = cores × 100000.
    pub fn create(relative: &str, cores: Option<f64>) -> Result<NodeCgroup> {
        validate_relative(relative)?;
        let quota = cores.map(quota_us).transpose()?;
        let mounts = Mounts::detect()?;
        let mut cg = NodeCgroup {
            cpu_dir: mounts.cpu_base.join(relative),
            acct_dir: mounts.acct_base.as_ref().map(|b| b.join(relative)),
            made: Vec::new(),
        };
        for dir in cg.dirs().map(Path::to_path_buf).collect::<Vec<_>>() {
            if dir.exists() {
                remove_tree(&dir).with_context(|| {
                    format!(
                        "cgroup {} is left over from an earlier run and cannot be removed; stop the processes in it (cat {}/cgroup.procs, then kill them) or use another name",
                        dir.display(),
                        dir.display()
                    )
                })?;
            }
            // Record each directory made, so that a failure below still lets Drop remove
            // what was made, and Drop never removes a parent that was there before.
            let mut missing: Vec<PathBuf> = dir
                .ancestors()
                .take_while(|d| !d.exists())
                .map(Path::to_path_buf)
                .collect();
            missing.reverse();
            for d in missing {
                fs::create_dir(&d).with_context(|| {
                    format!(
                        "cannot create cgroup {} (run the harness as root, with cgroup v1 cpu and cpuacct mounted read-write)",
                        d.display()
                    )
                })?;
                cg.made.push(d);
            }
        }
        if let Some(quota) = quota {
            // Period first: the quota is checked against it.
            write(&cg.cpu_dir.join("cpu.cfs_period_us"), PERIOD_US)?;
            write(&cg.cpu_dir.join("cpu.cfs_quota_us"), quota)?;
        }
        Ok(cg)
    }

    /// The cgroup's directory in the cpu hierarchy (where the cap and `cpu.stat` are).
    pub fn cpu_dir(&self) -> &Path {
        &self.cpu_dir
    }

    /// The `cgroup.procs` files (the cpu hierarchy's, then the separate cpuacct one's) a
    /// process writes its pid into to join; in cgroup v1 that moves all of its threads,
    /// and its later threads and children start there too.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs().map(|d| d.join("cgroup.procs")).collect()
    }

    /// An argv prefix that joins this cgroup and then execs the program appended to it,
    /// keeping the pid: `["/bin/sh", "-c", SCRIPT, "sh", <procs files>...]`. The files are
    /// positional parameters that SCRIPT writes `$$` into and shifts off before
    /// `exec "$@"`, so no path is ever quoted into the script. If joining fails the
    /// program does not run and the exit status is 126.
    pub fn join_prefix(&self) -> Vec<OsString> {
        let files = self.procs_files();
        let mut script = String::new();
        for _ in &files {
            script.push_str(r#"echo $$ > "$1" || exit 126; shift; "#);
        }
        script.push_str(r#"exec "$@""#);
        let mut argv: Vec<OsString> = vec!["/bin/sh".into(), "-c".into(), script.into()];
        // $0 of the script (only used in sh's own error messages).
        argv.push("sh".into());
        argv.extend(files.into_iter().map(PathBuf::into_os_string));
        argv
    }

    /// CPU time, in seconds, used so far by every thread in this cgroup and below it
    /// (`cpuacct.usage` is hierarchical, in nanoseconds).
    pub fn cpu_seconds(&self) -> Result<f64> {
        let file = self.acct_dir().join("cpuacct.usage");
        let text = fs::read_to_string(&file)
            .with_context(|| format!("cannot read {} (was the cgroup removed?)", file.display()))?;
        let ns: u64 = text
            .trim()
            .parse()
            .with_context(|| format!("{} holds {:?}, not a number", file.display(), text))?;
        Ok(ns as f64 / 1e9)
    }

    /// How many CFS periods the cap throttled it in (`nr_throttled` of `cpu.stat`); 0
    /// when uncapped or unreadable.
    pub fn throttled_periods(&self) -> u64 {
        fs::read_to_string(self.cpu_dir.join("cpu.stat"))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("nr_throttled ")
                        .and_then(|v| v.trim().parse().ok())
                })
            })
            .unwrap_or(0)
    }

    /// The cgroup's directories: the cpu hierarchy's, then the separate cpuacct one's.
    fn dirs(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.cpu_dir.as_path()).chain(self.acct_dir.as_deref())
    }

    /// The directory with `cpuacct.usage`.
    fn acct_dir(&self) -> &Path {
        self.acct_dir.as_deref().unwrap_or(&self.cpu_dir)
    }
}

impl Drop for NodeCgroup {
    fn drop(&mut self) {
        // Children first (epochd's job cgroups, if the node did not get to remove them),
        // then the directories this made, deepest first.
        for dir in self.made.iter().rev() {
            if !dir.exists() {
                continue;
            }
            if let Err(e) = remove_tree(dir) {
                eprintln!(
                    "epochd-bench: leaving cgroup {} in place: {e:#} (a process still in it?)",
                    dir.display()
                );
                // Its parents cannot go either.
                break;
            }
        }
    }
}

/// Checks a cgroup path relative to this process's cgroup: plain names, no `..`.
fn validate_relative(relative: &str) -> Result<()> {
    let ok = !relative.is_empty()
        && relative.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        });
    if !ok {
        bail!(
            "cgroup name {relative:?} is not a relative path of names made of letters, digits, '-', '_', '.' (e.g. epochd-bench/n0)"
        );
    }
    Ok(())
}

/// The CFS quota, in µs per [`PERIOD_US`], of a cap of `cores`.
fn quota_us(cores: f64) -> Result<u64> {
    if !(cores.is_finite() && cores > 0.0) {
        bail!("a CPU cap must be a positive number of cores, not {cores}");
    }
    let quota = (cores * PERIOD_US as f64).round() as u64;
    if quota < MIN_QUOTA_US {
        bail!(
            "a CPU cap of {cores} cores is below the kernel's minimum ({} cores: a quota of {MIN_QUOTA_US} µs per {PERIOD_US} µs)",
            MIN_QUOTA_US as f64 / PERIOD_US as f64
        );
    }
    Ok(quota)
}

/// Writes a number to a cgroup control file.
fn write(file: &Path, value: u64) -> Result<()> {
    fs::write(file, value.to_string())
        .with_context(|| format!("cannot write {value} to {}", file.display()))
}

/// Removes the cgroup `dir` and every cgroup below it, deepest first. Only directories
/// are removed (with rmdir): a cgroup's control files go with its directory, and rmdir
/// fails (EBUSY) while processes are in it, which is reported, not forced.
fn remove_tree(dir: &Path) -> Result<()> {
    let entries =
        fs::read_dir(dir).with_context(|| format!("cannot list cgroup {}", dir.display()))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    fs::remove_dir(dir).with_context(|| format!("cannot remove cgroup {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs `sh -c script` inside `cg` through [`NodeCgroup::join_prefix`].
    fn run_in(cg: &NodeCgroup, script: &str) -> std::process::Output {
        let prefix = cg.join_prefix();
        Command::new(&prefix[0])
            .args(&prefix[1..])
            .args(["/bin/sh", "-c", script])
            .output()
            .expect("run sh")
    }

    #[test]
    fn counts_cpu_of_what_runs_inside() {
        assert!(available(), "cgroup v1 cpu+cpuacct must be usable here");
        let name = format!("epochd-bench-test-{}-burn/node", std::process::id());
        let cg = NodeCgroup::create(&name, None).unwrap();
        assert_eq!(cg.cpu_seconds().unwrap(), 0.0);
        let out = run_in(
            &cg,
            "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; cat /proc/self/cgroup",
        );
        assert!(out.status.success(), "{out:?}");
        let seen = String::from_utf8_lossy(&out.stdout);
        assert!(seen.contains(&format!("/{name}\n")), "{seen}");
        let used = cg.cpu_seconds().unwrap();
        assert!(used > 0.05, "cpu_seconds {used}");
        assert_eq!(cg.throttled_periods(), 0);

        let dirs: Vec<PathBuf> = cg.dirs().map(Path::to_path_buf).collect();
        let top: Vec<PathBuf> = cg.made.iter().take(1).cloned().collect();
        drop(cg);
        for d in dirs.iter().chain(&top) {
            assert!(!d.exists(), "{} still there", d.display());
        }
    }

    #[test]
    fn caps_and_removes_children() {
        let name = format!("epochd-bench-test-{}-cap", std::process::id());
        let cg = NodeCgroup::create(&name, Some(0.1)).unwrap();
        let quota = fs::read_to_string(cg.cpu_dir().join("cpu.cfs_quota_us")).unwrap();
        assert_eq!(quota.trim(), "10000");
        let period = fs::read_to_string(cg.cpu_dir().join("cpu.cfs_period_us")).unwrap();
        assert_eq!(period.trim(), "100000");
        assert!(cg.procs_files().iter().all(|f| f.is_file()));

        // A child cgroup as the daemon makes for a job, with a process that ran in it.
        let out = run_in(&cg, "true");
        assert!(out.status.success(), "{out:?}");
        let child_dirs: Vec<PathBuf> = cg.dirs().map(|d| d.join("job-x")).collect();
        for d in &child_dirs {
            fs::create_dir(d).unwrap();
        }
        // A leftover of the same name is removed when it is made again.
        let again = NodeCgroup::create(&name, None).unwrap();
        let quota = fs::read_to_string(again.cpu_dir().join("cpu.cfs_quota_us")).unwrap();
        assert_eq!(quota.trim(), "-1");
        fs::create_dir(&child_dirs[0]).unwrap();
        std::mem::forget(cg);
        let dirs: Vec<PathBuf> = again.dirs().map(Path::to_path_buf).collect();
        drop(again);
        for d in &dirs {
            assert!(!d.exists(), "{} still there", d.display());
        }
    }

    #[test]
    fn rejects_bad_names_and_caps() {
        for bad in ["", "/abs", "a/../b", "a//b", "sp ace", "."] {
            assert!(NodeCgroup::create(bad, None).is_err(), "{bad:?}");
        }
        assert!(quota_us(0.0).is_err());
        assert!(quota_us(f64::NAN).is_err());
        assert!(quota_us(0.001).is_err());
        assert_eq!(quota_us(2.5).unwrap(), 250_000);
        assert_eq!(
            own_path("2:cpuacct:/a\n1:cpu:/b/c\n0::/\n", "cpu"),
            Some("/b/c")
        );
        assert_eq!(own_path("1:cpu,cpuacct:/x\n", "cpuacct"), Some("/x"));
    }
}

//! [`CpuCaps`] (the parent cgroup of one daemon instance, with its idle child) and
//! [`JobCgroup`] (one job's capped cgroup).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cgfs::{self, errno};
use crate::config::{DEFAULT_NAME_PREFIX, MIN_QUOTA_US};
use crate::hierarchy::{self, Hierarchy};
use crate::{validate_name, CgroupError, CpuCapConfig};

/// Which cgroup interface the host offers for the cpu controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CgroupVersion {
    /// cgroup v1: per-controller hierarchies (`cpu`, `cpuacct`), threads placed by
    /// writing to `tasks`, quota in `cpu.cfs_quota_us`/`cpu.cfs_period_us`.
    V1,
    /// cgroup v2: one unified hierarchy, threads placed in threaded cgroups through
    /// `cgroup.threads`, quota in `cpu.max`.
    V2,
}

/// CPU accounting of a cgroup, read from the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuStats {
    /// CPU time used by the threads while they sat in this cgroup or below it, since it
    /// was created (v1: `cpuacct.usage`; v2: `usage_usec` in `cpu.stat`).
    pub usage: Duration,
    /// Enforcement periods in which the cgroup had runnable threads, if the kernel
    /// reports it (`nr_periods` in `cpu.stat`).
    pub nr_periods: Option<u64>,
    /// Periods in which the cgroup ran out of quota and its threads were stopped until
    /// the next period (`nr_throttled`).
    pub nr_throttled: Option<u64>,
    /// Total time its threads spent throttled (v1 `throttled_time`, v2 `throttled_usec`).
    pub throttled: Option<Duration>,
}

/// Name of the child of the parent cgroup where worker threads wait between jobs.
const IDLE: &str = "idle";
/// Prefix of a job's cgroup directory: keeps job names clear of `idle` and of the
/// kernel's own file names (`tasks`, `cpu.max`, ...).
const JOB_PREFIX: &str = "job-";
/// How many times a cgroup is emptied and rmdir'ed before giving up.
const REMOVE_ATTEMPTS: u32 = 20;

/// Parent cgroups open in this process, so two [`CpuCaps`] never share one.
static OPEN_PARENTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// One cgroup, as the same path in the cpu hierarchy and (v1, separate cpuacct) in the
/// cpuacct hierarchy, with its thread-list files held open so that placing a thread is
/// one `write(2)` per hierarchy.
#[derive(Debug)]
struct Group {
    version: CgroupVersion,
    cpu_dir: PathBuf,
    acct_dir: Option<PathBuf>,
    /// `tasks` (v1, one per hierarchy) or `cgroup.threads` (v2), opened for writing.
    attach: Vec<(PathBuf, File)>,
}

impl Group {
    /// Creates (or reuses) the cgroup at `rel` below the hierarchy's bases; on v2 makes
    /// it threaded, so single threads can be placed in it.
    fn create(hier: &Hierarchy, rel: &Path) -> Result<Group, CgroupError> {
        let cpu_dir = hier.base_cpu.join(rel);
        let acct_dir = hier.base_acct.as_ref().map(|b| b.join(rel));
        for dir in std::iter::once(&cpu_dir).chain(acct_dir.as_ref()) {
            cgfs::mkdir(dir)?;
        }
        if hier.version == CgroupVersion::V2 {
            let type_file = cpu_dir.join("cgroup.type");
            cgfs::write_raw(&type_file, "threaded").map_err(|e| match e.raw_os_error() {
                Some(errno::EOPNOTSUPP) | Some(errno::EINVAL) => CgroupError::NoThreadedMode {
                    path: type_file.clone(),
                    source: e,
                },
                _ if e.kind() == io::ErrorKind::NotFound => CgroupError::NoThreadedMode {
                    path: type_file.clone(),
                    source: e,
                },
                _ => CgroupError::io("write", &type_file, e),
            })?;
        }
        let file = cgfs::threads_file(hier.version);
        let mut attach = Vec::new();
        for dir in std::iter::once(&cpu_dir).chain(acct_dir.as_ref()) {
            let path = dir.join(file);
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| CgroupError::io("open", &path, e))?;
            attach.push((path, f));
        }
        Ok(Group {
            version: hier.version,
            cpu_dir,
            acct_dir,
            attach,
        })
    }

    /// Moves the calling thread into this cgroup: writes "0" (the kernel's name for
    /// "the writing thread") to each thread-list file. Moving only the caller lets the
    /// kernel skip the process-wide threadgroup lock.
    fn enter(&self) -> Result<(), CgroupError> {
        for (path, f) in &self.attach {
            let mut f: &File = f;
            if let Err(e) = f.write_all(b"0") {
                return Err(match e.raw_os_error() {
                    Some(errno::ENODEV) => CgroupError::JobRemoved {
                        path: self.cpu_dir.clone(),
                    },
                    _ if e.kind() == io::ErrorKind::NotFound => CgroupError::JobRemoved {
                        path: self.cpu_dir.clone(),
                    },
                    _ => CgroupError::io("move the calling thread into", path, e),
                });
            }
        }
        Ok(())
    }

    /// Sets the CFS quota (`None`: no quota of its own) and period.
    fn set_quota(&self, quota_us: Option<u64>, period_us: u64) -> Result<(), CgroupError> {
        match self.version {
            CgroupVersion::V1 => {
                cgfs::write(
                    &self.cpu_dir.join("cpu.cfs_period_us"),
                    &period_us.to_string(),
                )?;
                let quota = quota_us.map_or("-1".to_string(), |q| q.to_string());
                cgfs::write(&self.cpu_dir.join("cpu.cfs_quota_us"), &quota)
            }
            CgroupVersion::V2 => cgfs::write(
                &self.cpu_dir.join("cpu.max"),
                &cgfs::format_cpu_max(quota_us, period_us),
            ),
        }
    }

    /// The quota and period in force, in microseconds.
    fn quota(&self) -> Result<(Option<u64>, u64), CgroupError> {
        match self.version {
            CgroupVersion::V1 => {
                let qf = self.cpu_dir.join("cpu.cfs_quota_us");
                let q = cgfs::read(&qf)?;
                let quota = cgfs::parse_v1_quota(&q).ok_or_else(|| CgroupError::parse(&qf, &q))?;
                let pf = self.cpu_dir.join("cpu.cfs_period_us");
                let p = cgfs::read(&pf)?;
                let period = p.trim().parse().map_err(|_| CgroupError::parse(&pf, &p))?;
                Ok((quota, period))
            }
            CgroupVersion::V2 => {
                let f = self.cpu_dir.join("cpu.max");
                let s = cgfs::read(&f)?;
                cgfs::parse_cpu_max(&s).ok_or_else(|| CgroupError::parse(&f, &s))
            }
        }
    }

    fn stats(&self) -> Result<CpuStats, CgroupError> {
        let stat_file = self.cpu_dir.join("cpu.stat");
        match self.version {
            CgroupVersion::V1 => {
                let usage = self.usage()?;
                Ok(cgfs::parse_v1_cpu_stat(&cgfs::read(&stat_file)?, usage))
            }
            CgroupVersion::V2 => {
                let s = cgfs::read(&stat_file)?;
                cgfs::parse_v2_cpu_stat(&s).ok_or_else(|| CgroupError::parse(&stat_file, &s))
            }
        }
    }

    fn usage(&self) -> Result<Duration, CgroupError> {
        match self.version {
            CgroupVersion::V1 => {
                let f = self
                    .acct_dir
                    .as_ref()
                    .unwrap_or(&self.cpu_dir)
                    .join("cpuacct.usage");
                let s = cgfs::read(&f)?;
                cgfs::parse_cpuacct_usage(&s).ok_or_else(|| CgroupError::parse(&f, &s))
            }
            CgroupVersion::V2 => Ok(self.stats()?.usage),
        }
    }

    fn threads(&self) -> Result<Vec<u32>, CgroupError> {
        let f = self.cpu_dir.join(cgfs::threads_file(self.version));
        Ok(cgfs::parse_tids(&cgfs::read(&f)?))
    }

    fn dirs(&self) -> impl Iterator<Item = &Path> {
        std::iter::once(self.cpu_dir.as_path()).chain(self.acct_dir.as_deref())
    }
}

/// The CPU caps of one daemon instance: a parent cgroup capped at
/// [`CpuCaps::parent_cores`], an `idle` child where worker threads wait, and one child
/// per job. See the crate documentation for the layout and the guarantees.
///
/// Dropping it (or [`CpuCaps::close`]) moves every thread still inside back to the
/// daemon's own cgroup and removes every cgroup it created.
#[derive(Debug)]
pub struct CpuCaps {
    hier: Hierarchy,
    name: String,
    parent_cores: f64,
    period_us: u64,
    /// False only in this crate's v2 placement test on a host whose cpu controller is
    /// bound to v1: cgroups, placement and accounting without quotas.
    enforce: bool,
    parent: Group,
    idle: Group,
    closed: bool,
}

impl CpuCaps {
    /// Detects cgroup v1 or v2 under [`CpuCapConfig::mount_root`], cleans stale cgroups
    /// of killed earlier instances, creates this instance's parent cgroup (capped at the
    /// configured parent share) inside the daemon's own cgroup, and its `idle` child.
    ///
    /// # Errors
    ///
    /// [`CgroupError::is_unavailable`] is true when this host or process cannot have
    /// CPU caps (no cgroupfs, no cpu controller, v2 without threaded mode, not root):
    /// run with deadlines only and say so. [`CgroupError::InvalidConfig`] and
    /// [`CgroupError::InvalidName`] for a bad config; [`CgroupError::InUse`] when the
    /// parent name is taken by a live instance.
    pub fn open(config: CpuCapConfig) -> Result<CpuCaps, CgroupError> {
        config.validate()?;
        let hier = hierarchy::detect(&config.mount_root)?;
        CpuCaps::open_in(&config, hier, true)
    }

    pub(crate) fn open_in(
        config: &CpuCapConfig,
        hier: Hierarchy,
        enforce: bool,
    ) -> Result<CpuCaps, CgroupError> {
        config.validate()?;
        let name = config.resolved_name();
        let parent_cores = config.resolved_parent_cores();
        let period_us = config.period_us;
        let parent_dir = hier.base_cpu.join(&name);
        claim(&parent_dir)?;
        if let Err(e) = clean_stale(&hier, &name) {
            // Nothing created yet; whatever is there (a live instance's threads) stays.
            release(&parent_dir);
            return Err(e);
        }
        let built = (|| {
            if hier.version == CgroupVersion::V2 && enforce {
                enable_cpu_v2(&hier.base_cpu)?;
            }
            let parent = Group::create(&hier, Path::new(&name))?;
            if hier.version == CgroupVersion::V2 && enforce {
                enable_cpu_v2(&parent.cpu_dir)?;
            }
            if enforce {
                parent.set_quota(Some(quota_us(parent_cores, period_us)), period_us)?;
            }
            let idle = Group::create(&hier, &Path::new(&name).join(IDLE))?;
            Ok((parent, idle))
        })();
        match built {
            Ok((parent, idle)) => {
                tracing::info!(
                    version = ?hier.version,
                    parent = %parent.cpu_dir.display(),
                    parent_cores,
                    period_us,
                    "CPU caps ready"
                );
                Ok(CpuCaps {
                    hier,
                    name,
                    parent_cores,
                    period_us,
                    enforce,
                    parent,
                    idle,
                    closed: false,
                })
            }
            Err(e) => {
                // Undo what was created (no thread entered it yet).
                for base in hier.bases() {
                    let dest = base.join(cgfs::threads_file(hier.version));
                    if let Err(undo) = remove_tree(hier.version, &base.join(&name), &dest) {
                        tracing::warn!(error = %undo, "could not remove a half-created parent cgroup");
                    }
                }
                release(&parent_dir);
                Err(e)
            }
        }
    }

    /// Creates the cgroup of job `name` with a quota of `cores` (a fraction of one core,
    /// or more than one core) per period, or updates the quota if it exists. Returns a
    /// handle threads use to enter it. Cheap to call again: the handle can be kept for
    /// the job's lifetime.
    ///
    /// # Errors
    ///
    /// [`CgroupError::InvalidName`] when `name` is not a safe cgroup name (job names are
    /// user input); [`CgroupError::InvalidCores`] unless `0 < cores <= parent_cores` and
    /// the quota is at least 1 ms per period.
    pub fn job(&self, name: &str, cores: f64) -> Result<JobCgroup, CgroupError> {
        validate_name(name)?;
        let min = MIN_QUOTA_US as f64 / self.period_us as f64;
        let invalid = |reason| {
            Err(CgroupError::InvalidCores {
                job: name.to_string(),
                cores,
                max: self.parent_cores,
                min,
                reason,
            })
        };
        if !cores.is_finite() || cores <= 0.0 {
            return invalid("it is not a positive number");
        }
        if cores > self.parent_cores {
            return invalid("it is above the parent cap of all jobs together");
        }
        let quota = quota_us(cores, self.period_us);
        if quota < MIN_QUOTA_US {
            return invalid("it is below the kernel's smallest quota");
        }
        let group = Group::create(&self.hier, &self.job_rel(name))?;
        if self.enforce {
            group.set_quota(Some(quota), self.period_us)?;
        }
        tracing::debug!(job = name, cores, quota_us = quota, "job cgroup ready");
        Ok(JobCgroup {
            inner: Arc::new(JobInner {
                name: name.to_string(),
                cores,
                group,
            }),
        })
    }

    /// Moves the calling thread into the `idle` child: under the parent cap, with no
    /// quota of its own. Call it when a worker thread finishes a job.
    pub fn enter_idle(&self) -> Result<(), CgroupError> {
        self.idle.enter()
    }

    /// Removes job `name`'s cgroup. Threads still inside are moved to `idle` first.
    /// Removing a job that does not exist is not an error. Handles to it keep working
    /// as values but [`JobCgroup::enter_current_thread`] returns
    /// [`CgroupError::JobRemoved`].
    pub fn remove_job(&self, name: &str) -> Result<(), CgroupError> {
        validate_name(name)?;
        let rel = self.job_rel(name);
        let dests = self.idle.attach.iter().map(|(p, _)| p.as_path());
        for (base, dest) in self.hier.bases().zip(dests) {
            remove_tree(self.hier.version, &base.join(&rel), dest)?;
        }
        tracing::debug!(job = name, "job cgroup removed");
        Ok(())
    }

    /// Total CPU time used by all jobs and idle workers of this instance since
    /// [`CpuCaps::open`].
    pub fn cpu_usage(&self) -> Result<Duration, CgroupError> {
        self.parent.usage()
    }

    /// CPU time and throttling of the parent cgroup (all jobs together).
    pub fn cpu_stats(&self) -> Result<CpuStats, CgroupError> {
        self.parent.stats()
    }

    /// The cgroup interface in use.
    pub fn version(&self) -> CgroupVersion {
        self.hier.version
    }

    /// The cap of all jobs together, in cores.
    pub fn parent_cores(&self) -> f64 {
        self.parent_cores
    }

    /// The CFS period of the parent and every job.
    pub fn period(&self) -> Duration {
        Duration::from_micros(self.period_us)
    }

    /// The parent cgroup's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parent cgroup's directories: in the cpu hierarchy, then (cgroup v1 with a
    /// separate cpuacct hierarchy) in the cpuacct hierarchy.
    pub fn paths(&self) -> Vec<&Path> {
        self.parent.dirs().collect()
    }

    /// Moves every thread still in this instance's cgroups back to the daemon's own
    /// cgroup and removes them all. Dropping does the same but can only log a failure.
    pub fn close(mut self) -> Result<(), CgroupError> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), CgroupError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut first_err = None;
        for base in self.hier.bases() {
            let dest = base.join(cgfs::threads_file(self.hier.version));
            if let Err(e) = remove_tree(self.hier.version, &base.join(&self.name), &dest) {
                first_err.get_or_insert(e);
            }
        }
        release(&self.parent.cpu_dir);
        match first_err {
            None => {
                tracing::debug!(parent = %self.parent.cpu_dir.display(), "CPU caps removed");
                Ok(())
            }
            Some(e) => Err(e),
        }
    }

    fn job_rel(&self, job: &str) -> PathBuf {
        Path::new(&self.name).join(format!("{JOB_PREFIX}{job}"))
    }
}

impl Drop for CpuCaps {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::error!(error = %e, "could not remove epochd's cgroups; they are cleaned at the next start");
        }
    }
}

/// One job's cgroup: a CFS quota of [`JobCgroup::cores`] per period, under the parent
/// cap. Cheap to clone and to share between threads.
#[derive(Debug, Clone)]
pub struct JobCgroup {
    inner: Arc<JobInner>,
}

#[derive(Debug)]
struct JobInner {
    name: String,
    cores: f64,
    group: Group,
}

impl JobCgroup {
    /// Moves the calling thread (only it, not its process) into this job's cgroup; its
    /// CPU use counts against the job's quota from the next scheduling decision on.
    /// Call [`CpuCaps::enter_idle`] when the job is done. Costs one `write(2)` per
    /// hierarchy (see the crate documentation for measured numbers).
    ///
    /// # Errors
    ///
    /// [`CgroupError::JobRemoved`] when the job's cgroup is gone.
    pub fn enter_current_thread(&self) -> Result<(), CgroupError> {
        self.inner.group.enter()
    }

    /// CPU time used inside this job's cgroup since it was created, from the kernel's
    /// accounting (v1 `cpuacct.usage`, v2 `cpu.stat`).
    pub fn cpu_usage(&self) -> Result<Duration, CgroupError> {
        self.inner.group.usage()
    }

    /// CPU time and throttling statistics of this job's cgroup.
    pub fn cpu_stats(&self) -> Result<CpuStats, CgroupError> {
        self.inner.group.stats()
    }

    /// The quota and period in force as the kernel reports them, in microseconds
    /// (`None` quota: uncapped).
    pub fn quota_us(&self) -> Result<(Option<u64>, u64), CgroupError> {
        self.inner.group.quota()
    }

    /// Thread ids currently in this job's cgroup.
    pub fn threads(&self) -> Result<Vec<u32>, CgroupError> {
        self.inner.group.threads()
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The job's share in cores, as set when this handle was made.
    pub fn cores(&self) -> f64 {
        self.inner.cores
    }

    /// The job cgroup's directories: in the cpu hierarchy, then (cgroup v1 with a
    /// separate cpuacct hierarchy) in the cpuacct hierarchy.
    pub fn paths(&self) -> Vec<&Path> {
        self.inner.group.dirs().collect()
    }
}

fn quota_us(cores: f64, period_us: u64) -> u64 {
    (cores * period_us as f64).round() as u64
}

/// Offers the cpu controller to the children of a v2 cgroup.
fn enable_cpu_v2(dir: &Path) -> Result<(), CgroupError> {
    let f = dir.join("cgroup.subtree_control");
    cgfs::write_raw(&f, "+cpu").map_err(|e| match e.raw_os_error() {
        Some(errno::EOPNOTSUPP) | Some(errno::EBUSY) | Some(errno::EINVAL) => {
            CgroupError::NoThreadedMode {
                path: f.clone(),
                source: e,
            }
        }
        _ => CgroupError::io("write", &f, e),
    })
}

fn claim(parent_dir: &Path) -> Result<(), CgroupError> {
    let mut open = OPEN_PARENTS.lock().unwrap_or_else(|p| p.into_inner());
    if open.iter().any(|p| p == parent_dir) {
        return Err(CgroupError::InUse {
            path: parent_dir.to_path_buf(),
            detail: "this process already has a CpuCaps open on it".to_string(),
        });
    }
    open.push(parent_dir.to_path_buf());
    Ok(())
}

fn release(parent_dir: &Path) {
    let mut open = OPEN_PARENTS.lock().unwrap_or_else(|p| p.into_inner());
    open.retain(|p| p != parent_dir);
}

/// Removes cgroups left behind by an earlier instance: our own name, and
/// `epochd-<pid>` where no process `<pid>` exists, provided no thread is inside.
fn clean_stale(hier: &Hierarchy, name: &str) -> Result<(), CgroupError> {
    for base in hier.bases() {
        let entries = fs::read_dir(base).map_err(|e| CgroupError::io("list", base, e))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Some(dir_name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let ours = dir_name == name;
            let dead = dir_name
                .strip_prefix(DEFAULT_NAME_PREFIX)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new("/proc").join(pid.to_string()).exists());
            if !ours && !dead {
                continue;
            }
            let mut busy = Vec::new();
            for d in cgfs::dirs_post_order(&dir)? {
                let list = d.join(cgfs::threads_file(hier.version));
                if let Ok(s) = fs::read_to_string(&list) {
                    busy.extend(cgfs::parse_tids(&s));
                }
            }
            if !busy.is_empty() {
                if ours {
                    return Err(CgroupError::InUse {
                        path: dir,
                        detail: format!("threads {busy:?} are in it"),
                    });
                }
                tracing::warn!(cgroup = %dir.display(), threads = ?busy, "not removing a cgroup named after a dead epochd: threads are in it");
                continue;
            }
            let dest = base.join(cgfs::threads_file(hier.version));
            remove_tree(hier.version, &dir, &dest)?;
            tracing::warn!(cgroup = %dir.display(), "removed a stale cgroup left by an earlier epochd instance");
        }
    }
    Ok(())
}

/// Removes `dir` and every cgroup below it in one hierarchy, children first. The
/// threads found in each are moved to `dest` (a `tasks` / `cgroup.threads` file) first,
/// as the kernel refuses to remove a populated cgroup. A thread entering meanwhile
/// makes rmdir fail with EBUSY; that is retried [`REMOVE_ATTEMPTS`] times.
fn remove_tree(version: CgroupVersion, dir: &Path, dest: &Path) -> Result<(), CgroupError> {
    for d in cgfs::dirs_post_order(dir)? {
        remove_one(version, &d, dest)?;
    }
    Ok(())
}

fn remove_one(version: CgroupVersion, dir: &Path, dest: &Path) -> Result<(), CgroupError> {
    let list = dir.join(cgfs::threads_file(version));
    let mut attempt = 0;
    loop {
        attempt += 1;
        match fs::read_to_string(&list) {
            Ok(s) => {
                for tid in cgfs::parse_tids(&s) {
                    match cgfs::write_raw(dest, &tid.to_string()) {
                        Ok(()) => {}
                        // The thread exited meanwhile.
                        Err(e) if e.raw_os_error() == Some(errno::ESRCH) => {}
                        Err(e) => return Err(CgroupError::io("move a thread to", dest, e)),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CgroupError::io("read", &list, e)),
        }
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(errno::EBUSY) => {
                if attempt >= REMOVE_ATTEMPTS {
                    return Err(CgroupError::RemoveBusy {
                        path: dir.to_path_buf(),
                        attempts: attempt,
                        source: e,
                    });
                }
                std::thread::sleep(Duration::from_millis(u64::from(attempt)));
            }
            Err(e) => return Err(CgroupError::io("remove", dir, e)),
        }
    }
}

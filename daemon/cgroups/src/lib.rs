//! Kernel-enforced CPU caps for epochd jobs: every job gets a cgroup with a CFS quota,
//! the thread that runs a job sits in that job's cgroup while it runs, and all jobs
//! together sit under one parent cgroup capped below the machine, so the store and
//! ingestion always keep CPU.
//!
//! # The guarantee
//!
//! - **Per job.** A thread in a job's cgroup ([`JobCgroup::enter_current_thread`]) runs
//!   at most `cores * period` of CPU time per CFS period (default period 100 ms), then
//!   the kernel stops it until the next period. All threads in the same job cgroup
//!   share that budget. The kernel enforces this, not epochd: a job in an infinite loop
//!   cannot take more.
//! - **All jobs together.** Job cgroups and the `idle` cgroup are children of one
//!   parent capped at [`CpuCapConfig::parent_cores`] (default: the cores available minus
//!   [`CpuCapConfig::reserve_cores`], 1.5 on a 2-core host). However many jobs run, their
//!   sum stays at or below that cap; what is left of the machine is the store's.
//! - **Measured by the kernel.** [`JobCgroup::cpu_usage`] and [`JobCgroup::cpu_stats`]
//!   read the cgroup's own accounting (v1 `cpuacct.usage`, v2 `cpu.stat`), throttling
//!   counts included.
//! - **What it does not do.** It caps CPU time, not wall time: a throttled job is
//!   slower, not stopped (the job runtime's deadline does that). Only time spent while a
//!   thread sits in the job's cgroup counts: a thread that never enters is uncapped.
//!   A quota is enforced per period, so a job may run a whole `cores * period` burst
//!   at full speed, then wait.
//!
//! # Threads
//!
//! - Only threads that call [`JobCgroup::enter_current_thread`] move; the rest of the
//!   daemon (store, HTTP, the wasmtime epoch ticker) stays in the daemon's own cgroup,
//!   outside every cap.
//! - A thread created by a thread inside a job cgroup starts in that cgroup (kernel
//!   rule, v1 and v2). Spawn worker pools from uncapped threads, and have each worker
//!   call [`CpuCaps::enter_idle`] once at start.
//! - Under contention the parent competes with the rest of the machine as one cgroup
//!   with the default weight (v1 `cpu.shares` 1024, v2 `cpu.weight` 100), i.e. all jobs
//!   together weigh like one busy thread of the store. The cap is a ceiling, not a
//!   reservation.
//!
//! # Layout
//!
//! ```text
//! <the daemon's own cgroup>/           v1: in the cpu and the cpuacct hierarchies; v2: threaded domain root
//!   epochd-<pid>/                      the parent: quota = parent_cores * period
//!     idle/                            no quota of its own: worker threads wait here
//!     job-<name>/                      quota = the job's cores * period
//! ```
//!
//! cgroup v1 (per-controller hierarchies): the same path is created in the cpu
//! hierarchy (quota: `cpu.cfs_quota_us`, `cpu.cfs_period_us`; throttling: `cpu.stat`)
//! and, when it is mounted separately, in the cpuacct hierarchy (usage:
//! `cpuacct.usage`); a thread is placed by writing to `tasks` in both.
//!
//! cgroup v2 (one hierarchy): the parent and all its children are *threaded* cgroups
//! (`cgroup.type`), which is what allows single threads of one process to sit in
//! different cgroups; a thread is placed by writing to `cgroup.threads`; quota in
//! `cpu.max`, usage and throttling in `cpu.stat`. Requirements: Linux 4.14 or later, the
//! cpu controller available to the daemon's cgroup (listed in its `cgroup.controllers`;
//! systemd: `Delegate=cpu` on the unit), and that cgroup must be able to become a
//! threaded domain root: no populated non-threaded child cgroups and no domain
//! controllers (memory, io) enabled in its `cgroup.subtree_control`. epochd writes `+cpu`
//! into it (and leaves it there on close). Otherwise [`CpuCaps::open`] fails with
//! [`CgroupError::NoThreadedMode`]. Tested: on the project's hosts the v2 hierarchy has
//! no cpu controller (v1 holds it), so the v2 threaded placement, accounting and
//! removal are tested on real cgroups but v2 quotas (`cpu.max`) only as file formats.
//!
//! # Lifecycle and stale cgroups
//!
//! [`CpuCaps::close`] or dropping the [`CpuCaps`] moves every thread still inside back
//! to the daemon's own cgroup (the kernel refuses to remove a populated cgroup), then
//! removes every cgroup it created. A daemon killed with SIGKILL (or that crashes or
//! aborts) leaves its empty cgroups behind: its threads died with it, only the
//! directories stay, costing a little kernel memory and nothing else. The next
//! [`CpuCaps::open`] in the same cgroup removes them: directories named like the
//! configured name, and directories named `epochd-<pid>` for which no process `<pid>`
//! exists. A directory with threads inside is never removed (a warning is logged; for
//! the configured name, open fails with [`CgroupError::InUse`]). Two caveats: a
//! leftover whose pid was reused by an unrelated process stays until that process is
//! gone; and daemons in different pid namespaces sharing one cgroup directory must
//! use distinct configured names, since they cannot see each other's pids.
//!
//! # Cost of moving a thread
//!
//! [`JobCgroup::enter_current_thread`] and [`CpuCaps::enter_idle`] write `0` ("the
//! calling thread") to a thread-list file kept open, one `write(2)` per hierarchy;
//! moving only the caller lets the kernel skip the process-wide threadgroup lock.
//! Measured with `cargo bench -p epochd-cgroups` (benches/enter.rs) on the project's
//! 2-core host (Linux 6.18, cgroup v1, separate cpu and cpuacct hierarchies, so two
//! writes per move):
//!
//! | what | cost |
//! |---|---|
//! | one move (`enter_current_thread` or `enter_idle`), back to back | 16-20 us |
//! | the same done naively (open, write the tid, close, per hierarchy; what cgroups-rs's `add_task` does) | 29-36 us (1.8-2x) |
//! | one move while another thread moves too | 39-52 us (the kernel's cgroup mutex is global: moves serialise) |
//! | a move after 300 ms without any | 75-90 us |
//!
//! So running one job costs about 40 us of placement (in, then back to idle): 0.4% of
//! a 10 ms job, and 260 jobs per second cost about 1% of one core. Moves serialise
//! machine-wide, which bounds a host to some 25 000-50 000 moves per second. On cgroup
//! v2 a move is one write; it was not measured (no v2 cpu controller on our hosts).
//!
//! # Why not cgroups-rs
//!
//! The design brief names cgroups-rs; this crate writes the cgroup files itself (a few
//! hundred lines) because cgroups-rs 0.5.1 (the newest 0.5.x) always pulls in a D-Bus
//! stack (zbus 5) and nix 0.25, opens, writes and closes every hierarchy's `tasks` file
//! on each `add_task` (twice our cost, above) and on v2 reads `cgroup.type` before each
//! move, writes `cgroup.subtree_control` on every ancestor from `/sys/fs/cgroup` down
//! while ignoring errors, and leaves threaded mode to the caller anyway.
//!
//! # Example
//!
//! ```
//! use epochd_cgroups::{CpuCapConfig, CpuCaps};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let caps = match CpuCaps::open(CpuCapConfig::default()) {
//!     Ok(caps) => caps,
//!     Err(e) if e.is_unavailable() => {
//!         // Not root, no cpu controller, ...: the daemon runs with deadlines only.
//!         eprintln!("WARNING: jobs run without CPU caps: {e}");
//!         return Ok(());
//!     }
//!     Err(e) => return Err(e.into()),
//! };
//! let job = caps.job("error-rate", 0.2)?;
//! std::thread::scope(|s| {
//!     s.spawn(|| -> Result<(), epochd_cgroups::CgroupError> {
//!         caps.enter_idle()?; // a worker thread waits in `idle`
//!         job.enter_current_thread()?;
//!         // ... run the job: at most 0.2 core ...
//!         caps.enter_idle()
//!     })
//!     .join()
//!     .expect("the worker panicked")
//! })?;
//! println!("the job used {:?} of CPU", job.cpu_usage()?);
//! caps.close()?; // or drop it
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod caps;
mod cgfs;
mod config;
mod error;
mod hierarchy;
#[cfg(test)]
mod v2_tests;

pub use caps::{CgroupVersion, CpuCaps, CpuStats, JobCgroup};
pub use config::{validate_name, CpuCapConfig, DEFAULT_NAME_PREFIX, MAX_NAME_LEN};
pub use error::CgroupError;

//! cgroup v2 placement on real cgroups, without quotas.
//!
//! The project's hosts bind the cpu controller to cgroup v1, so the v2 hierarchy
//! (mounted at /sys/fs/cgroup/unified) has no cpu controller and `cpu.max` cannot be
//! tested here. Everything else of the v2 path is: threaded cgroups, moving single
//! threads through `cgroup.threads`, accounting from `cpu.stat` (the kernel keeps
//! `usage_usec` even without the controller), and removal with threads inside. These
//! tests open the v2 backend with quotas switched off (`enforce = false`), which only
//! this module can do.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cgfs;
use crate::hierarchy::{current_thread_cgroups, Hierarchy};
use crate::{CgroupError, CgroupVersion, CpuCapConfig, CpuCaps};

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// The v2 hierarchy of this host with this process's cgroup as base, or `None` (with
/// an explicit message) when the test cannot run here.
fn v2_hierarchy(test: &str) -> Option<Hierarchy> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_string);
    if euid.as_deref() != Some("0") {
        eprintln!("SKIPPED {test}: needs root (real cgroup v2); run the tests as root");
        return None;
    }
    let mount = Path::new(UNIFIED);
    if !mount.join("cgroup.controllers").is_file() {
        eprintln!("SKIPPED {test}: no cgroup v2 hierarchy at {UNIFIED}");
        return None;
    }
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let lines = cgfs::parse_proc_cgroup(&own);
    let base = cgfs::join_cgroup_path(mount, cgfs::own_path(&lines, None).unwrap_or("/"));
    Some(Hierarchy {
        version: CgroupVersion::V2,
        base_cpu: base,
        base_acct: None,
    })
}

fn config(name: &str) -> CpuCapConfig {
    CpuCapConfig {
        name: Some(format!("epochd-v2test-{name}-{}", std::process::id())),
        parent_cores: Some(1.0),
        ..Default::default()
    }
}

/// The calling thread's v2 cgroup as an absolute directory.
fn my_v2_dir() -> PathBuf {
    let lines = current_thread_cgroups();
    let path = cgfs::own_path(&lines, None).expect("a v2 line in /proc/thread-self/cgroup");
    cgfs::join_cgroup_path(Path::new(UNIFIED), path)
}

fn spin(d: Duration) {
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < d {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

#[test]
fn v2_threaded_placement_accounting_and_removal() {
    let Some(hier) = v2_hierarchy("v2_threaded_placement_accounting_and_removal") else {
        return;
    };
    let base = hier.base_cpu.clone();
    let caps = CpuCaps::open_in(&config("place"), hier.clone(), false).unwrap();
    let parent = caps.paths()[0].to_path_buf();
    assert_eq!(
        fs::read_to_string(parent.join("cgroup.type"))
            .unwrap()
            .trim(),
        "threaded"
    );
    let job = caps.job("spin", 0.5).unwrap();
    let job_dir = job.paths()[0].to_path_buf();
    assert_eq!(
        fs::read_to_string(job_dir.join("cgroup.type"))
            .unwrap()
            .trim(),
        "threaded"
    );
    let idle_dir = parent.join("idle");

    // In and out, repeatedly, checked through /proc/thread-self/cgroup.
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..20 {
                job.enter_current_thread().unwrap();
                assert_eq!(my_v2_dir(), job_dir);
                spin(Duration::from_millis(5));
                caps.enter_idle().unwrap();
                assert_eq!(my_v2_dir(), idle_dir);
            }
        });
    });
    let stats = job.cpu_stats().unwrap();
    assert!(
        stats.usage >= Duration::from_millis(50),
        "cpu.stat usage_usec of the job: {:?}",
        stats.usage
    );
    assert_eq!(
        stats.nr_throttled, None,
        "no cpu controller on this v2 hierarchy"
    );
    assert!(caps.cpu_usage().unwrap() >= stats.usage);

    // Removal with threads parked inside: remove_job moves them to idle, close to base.
    let (park_tx, park_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<u32>();
    let parked = std::thread::spawn({
        let job = job.clone();
        move || {
            job.enter_current_thread().unwrap();
            ready_tx.send(job.threads().unwrap()[0]).unwrap();
            park_rx.recv().unwrap();
            let lines = current_thread_cgroups();
            cgfs::own_path(&lines, None).unwrap().to_string()
        }
    });
    let tid = ready_rx.recv().unwrap();
    caps.remove_job("spin").unwrap();
    assert!(!job_dir.exists(), "{} left behind", job_dir.display());
    let idle_threads =
        cgfs::parse_tids(&fs::read_to_string(idle_dir.join("cgroup.threads")).unwrap());
    assert!(idle_threads.contains(&tid), "tid {tid} not moved to idle");
    assert!(matches!(
        job.enter_current_thread(),
        Err(CgroupError::JobRemoved { .. })
    ));
    drop(caps);
    park_tx.send(()).unwrap();
    let ended_in = parked.join().unwrap();
    assert_eq!(cgfs::join_cgroup_path(Path::new(UNIFIED), &ended_in), base);
    assert!(!parent.exists(), "{} left behind", parent.display());
}

#[test]
fn v2_stale_parent_of_a_dead_daemon_is_removed() {
    let Some(hier) = v2_hierarchy("v2_stale_parent_of_a_dead_daemon_is_removed") else {
        return;
    };
    let dead = dead_pid();
    let stale = hier.base_cpu.join(format!("epochd-{dead}"));
    fs::create_dir(&stale).unwrap();
    fs::write(stale.join("cgroup.type"), "threaded").unwrap();
    fs::create_dir(stale.join("job-x")).unwrap();
    let caps = CpuCaps::open_in(&config("stale"), hier, false).unwrap();
    assert!(!stale.exists(), "{} left behind", stale.display());
    caps.close().unwrap();
}

/// A pid no process has (a child that has been reaped).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

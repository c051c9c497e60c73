//! Shared helpers: opening test instances, busy threads, measuring, error chains.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use epochd_cgroups::{CpuCapConfig, CpuCaps, JobCgroup};

/// True when running as root; otherwise prints that `test` is skipped and why.
pub fn root_or_skip(test: &str) -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if euid == "0" {
        true
    } else {
        eprintln!("SKIPPED {test}: needs root to create real cgroups; run the tests as root");
        false
    }
}

/// The config of a test instance: a name of its own, the given parent cap.
pub fn config(tag: &str, parent_cores: f64) -> CpuCapConfig {
    CpuCapConfig {
        name: Some(format!("epochd-test-{tag}-{}", std::process::id())),
        parent_cores: Some(parent_cores),
        ..Default::default()
    }
}

/// Opens a test instance.
pub fn open(tag: &str, parent_cores: f64) -> CpuCaps {
    CpuCaps::open(config(tag, parent_cores)).expect("open CPU caps (as root, on cgroup v1 or v2)")
}

/// Serialises the tests that measure CPU use.
pub fn measuring() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A thread busy-looping inside a job cgroup until dropped.
pub struct Spinner {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts a thread that enters `job` and spins; returns once it is inside.
    pub fn start(job: &JobCgroup) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::spawn({
            let job = job.clone();
            let stop = stop.clone();
            move || {
                job.enter_current_thread().expect("enter the job cgroup");
                tx.send(()).unwrap();
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
        });
        rx.recv().expect("spinner started");
        Spinner {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}

/// Cores used by each of `usages` over `window`: (usage after - usage before) / wall time,
/// from the cgroups' own accounting.
pub fn cores_used(usages: &[&dyn Fn() -> Duration], window: Duration) -> Vec<f64> {
    let before: Vec<Duration> = usages.iter().map(|u| u()).collect();
    let t = Instant::now();
    std::thread::sleep(window);
    let after: Vec<Duration> = usages.iter().map(|u| u()).collect();
    let wall = t.elapsed().as_secs_f64();
    before
        .iter()
        .zip(&after)
        .map(|(b, a)| (*a - *b).as_secs_f64() / wall)
        .collect()
}

/// A thread parked in a cgroup until released; reports its tid and, at the end, where
/// it ended up.
pub struct Parked {
    pub tid: u32,
    release: mpsc::Sender<()>,
    handle: JoinHandle<Vec<(String, String)>>,
}

impl Parked {
    /// Starts a thread that runs `enter`, then waits.
    pub fn start(enter: impl FnOnce() + Send + 'static) -> Parked {
        let (tid_tx, tid_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            enter();
            tid_tx.send(current_tid()).unwrap();
            let _ = release_rx.recv();
            thread_cgroups()
        });
        let tid = tid_rx.recv().expect("parked thread started");
        Parked {
            tid,
            release,
            handle,
        }
    }

    /// Releases the thread; returns its cgroups (controllers, path) when it ended.
    pub fn finish(self) -> Vec<(String, String)> {
        self.release.send(()).unwrap();
        self.handle.join().unwrap()
    }
}

/// The calling thread's id.
pub fn current_tid() -> u32 {
    let link = fs::read_link("/proc/thread-self").unwrap();
    link.file_name().unwrap().to_str().unwrap().parse().unwrap()
}

/// The calling thread's cgroups: (controllers, path) per hierarchy.
pub fn thread_cgroups() -> Vec<(String, String)> {
    fs::read_to_string("/proc/thread-self/cgroup")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            p.next()?;
            Some((p.next()?.to_string(), p.next()?.to_string()))
        })
        .collect()
}

/// The cgroup path (in `/proc/.../cgroup` form) for `controllers` ("cpu", "cpuacct",
/// or "" for v2) in `cgroups`.
pub fn path_for<'a>(cgroups: &'a [(String, String)], controller: &str) -> &'a str {
    cgroups
        .iter()
        .find(|(c, _)| {
            if controller.is_empty() {
                c.is_empty()
            } else {
                c.split(',').any(|x| x == controller)
            }
        })
        .map(|(_, p)| p.as_str())
        .unwrap_or_else(|| panic!("no {controller:?} hierarchy in {cgroups:?}"))
}

/// The thread ids listed in a cgroup directory.
pub fn tids_in(dir: &Path) -> Vec<u32> {
    let file = if dir.join("tasks").exists() {
        "tasks"
    } else {
        "cgroup.threads"
    };
    fs::read_to_string(dir.join(file))
        .unwrap()
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect()
}

/// Asserts that some error in `err`'s source chain mentions `needle`.
pub fn assert_contains(err: &(dyn std::error::Error + 'static), needle: &str) {
    let mut chain = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        chain.push(e.to_string());
        cur = e.source();
    }
    assert!(
        chain.iter().any(|m| m.contains(needle)),
        "no error in the chain mentions {needle:?}: {chain:#?}"
    );
}

/// A pid that no process has: a child that has been reaped.
pub fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

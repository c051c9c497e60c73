//! Cost of moving a thread into a job cgroup and back to `idle`, side by side with
//! the naive way (open the thread-list file, write the thread id, close, per
//! hierarchy: what cgroups-rs's `Cgroup::add_task` does).
//!
//! Run as root: `cargo bench -p epochd-cgroups`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use epochd_cgroups::{CgroupVersion, CpuCapConfig, CpuCaps, JobCgroup};

const ROUNDS: u32 = 20_000;

fn main() {
    let caps = match CpuCaps::open(CpuCapConfig {
        name: Some(format!("epochd-bench-{}", std::process::id())),
        ..Default::default()
    }) {
        Ok(caps) => caps,
        Err(e) => {
            eprintln!("SKIPPED enter bench: {e}");
            return;
        }
    };
    let job = caps.job("bench", 1.0).expect("job cgroup");
    println!(
        "cgroup {:?}, {} hierarchies per move, {ROUNDS} round trips (job then idle) per line",
        caps.version(),
        job.paths().len()
    );

    let ours = one_thread(|| round_trips(&caps, &job));
    let naive = one_thread(|| naive_round_trips(&caps, &job));
    println!(
        "enter_current_thread + enter_idle (write \"0\", files kept open): {:>8.2} us per move",
        per_move(ours)
    );
    println!(
        "naive (open, write tid, close per hierarchy):                    {:>8.2} us per move ({:.1}x)",
        per_move(naive),
        naive.as_secs_f64() / ours.as_secs_f64()
    );
    let both = std::thread::scope(|s| {
        let a = s.spawn(|| round_trips(&caps, &job));
        let b = s.spawn(|| round_trips(&caps, &job));
        a.join().unwrap().max(b.join().unwrap())
    });
    println!(
        "two threads moving at once, slower thread:                        {:>8.2} us per move",
        per_move(both)
    );
    let cold = one_thread(|| cold_moves(&caps, &job));
    println!(
        "a move after 300 ms without any (median of 9, max):               {:>8.2} us, {:.2} us",
        cold.0.as_secs_f64() * 1e6,
        cold.1.as_secs_f64() * 1e6
    );
    caps.close().expect("remove the bench cgroups");
}

fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

fn per_move(total: Duration) -> f64 {
    total.as_secs_f64() * 1e6 / f64::from(2 * ROUNDS)
}

fn round_trips(caps: &CpuCaps, job: &JobCgroup) -> Duration {
    // Warm up.
    for _ in 0..100 {
        job.enter_current_thread().unwrap();
        caps.enter_idle().unwrap();
    }
    let t = Instant::now();
    for _ in 0..ROUNDS {
        job.enter_current_thread().unwrap();
        caps.enter_idle().unwrap();
    }
    t.elapsed()
}

/// Moves after a pause: the kernel's cgroup locks may have gone back to their slow
/// state (an RCU grace period on the next writer).
fn cold_moves(caps: &CpuCaps, job: &JobCgroup) -> (Duration, Duration) {
    let mut samples = Vec::new();
    for i in 0..9 {
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        if i % 2 == 0 {
            job.enter_current_thread().unwrap();
        } else {
            caps.enter_idle().unwrap();
        }
        samples.push(t.elapsed());
    }
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

fn naive_round_trips(caps: &CpuCaps, job: &JobCgroup) -> Duration {
    let file = match caps.version() {
        CgroupVersion::V1 => "tasks",
        _ => "cgroup.threads",
    };
    let files = |dirs: Vec<&Path>| -> Vec<PathBuf> { dirs.iter().map(|d| d.join(file)).collect() };
    let job_files = files(job.paths());
    let idle_dirs: Vec<PathBuf> = caps.paths().iter().map(|p| p.join("idle")).collect();
    let idle_files = files(idle_dirs.iter().map(PathBuf::as_path).collect());
    let link = fs::read_link("/proc/thread-self").unwrap();
    let tid = link.file_name().unwrap().to_str().unwrap().to_string();
    let write_all = |paths: &[PathBuf]| {
        for p in paths {
            let mut f = fs::OpenOptions::new().write(true).open(p).unwrap();
            f.write_all(tid.as_bytes()).unwrap();
        }
    };
    let t = Instant::now();
    for _ in 0..ROUNDS {
        write_all(&job_files);
        write_all(&idle_files);
    }
    t.elapsed()
}

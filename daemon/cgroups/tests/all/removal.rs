//! Removing jobs and instances leaves no directory behind, whatever threads are inside;
//! stale cgroups of a killed daemon are cleaned at open.

use std::fs;
use std::path::{Path, PathBuf};

use epochd_cgroups::{CgroupError, CpuCaps};

use crate::support::{config, dead_pid, open, path_for, root_or_skip, tids_in, Parked};

fn owned(paths: Vec<&Path>) -> Vec<PathBuf> {
    paths.into_iter().map(Path::to_path_buf).collect()
}

fn assert_gone(dirs: &[PathBuf]) {
    for d in dirs {
        assert!(!d.exists(), "{} was left behind", d.display());
    }
}

/// The (controllers, path) pairs of this process's main cgroups, as threads should end.
fn process_cgroups() -> Vec<(String, String)> {
    fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            p.next()?;
            Some((p.next()?.to_string(), p.next()?.to_string()))
        })
        .collect()
}

#[test]
fn remove_job_moves_its_threads_to_idle_and_leaves_no_directory() {
    if !root_or_skip("remove_job_moves_its_threads_to_idle_and_leaves_no_directory") {
        return;
    }
    let caps = open("rmjob", 1.5);
    let job = caps.job("gone", 0.5).unwrap();
    let dirs = owned(job.paths());
    assert_eq!(dirs.len(), caps.paths().len());
    let inside = Parked::start({
        let job = job.clone();
        move || job.enter_current_thread().unwrap()
    });
    assert_eq!(job.threads().unwrap(), vec![inside.tid]);
    caps.remove_job("gone").unwrap();
    assert_gone(&dirs);
    for parent in caps.paths() {
        assert!(tids_in(&parent.join("idle")).contains(&inside.tid));
    }
    let err = job.enter_current_thread().unwrap_err();
    assert!(matches!(err, CgroupError::JobRemoved { .. }), "{err}");
    assert!(err.to_string().contains("CpuCaps::job"), "{err}");
    // Removing again is fine; creating again gives a working handle.
    caps.remove_job("gone").unwrap();
    let again = caps.job("gone", 0.5).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| again.enter_current_thread().unwrap());
    });
    let ended = inside.finish();
    assert!(path_for(&ended, if caps.paths().len() == 2 { "cpu" } else { "" }).ends_with("/idle"));
}

#[test]
fn close_moves_every_thread_back_and_removes_everything() {
    if !root_or_skip("close_moves_every_thread_back_and_removes_everything") {
        return;
    }
    let caps = std::sync::Arc::new(open("close", 1.5));
    let job = caps.job("j", 0.5).unwrap();
    let mut all = owned(caps.paths());
    all.extend(owned(job.paths()));
    let in_job = Parked::start({
        let job = job.clone();
        move || job.enter_current_thread().unwrap()
    });
    let in_idle = Parked::start({
        let caps = caps.clone();
        move || caps.enter_idle().unwrap()
    });
    let caps = std::sync::Arc::try_unwrap(caps).expect("the parked thread dropped its clone");
    caps.close().unwrap();
    assert_gone(&all);
    let expected = process_cgroups();
    assert_eq!(in_job.finish(), expected);
    assert_eq!(in_idle.finish(), expected);
}

#[test]
fn drop_removes_everything_even_with_threads_inside() {
    if !root_or_skip("drop_removes_everything_even_with_threads_inside") {
        return;
    }
    let caps = std::sync::Arc::new(open("drop", 1.5));
    let job = caps.job("j", 0.5).unwrap();
    let mut all = owned(caps.paths());
    all.extend(owned(job.paths()));
    let in_job = Parked::start({
        let job = job.clone();
        move || job.enter_current_thread().unwrap()
    });
    let in_idle = Parked::start({
        let caps = caps.clone();
        move || caps.enter_idle().unwrap()
    });
    for parent in caps.paths() {
        assert_eq!(tids_in(&parent.join("idle")), vec![in_idle.tid]);
    }
    drop(caps);
    assert_gone(&all);
    let expected = process_cgroups();
    assert_eq!(in_job.finish(), expected);
    assert_eq!(in_idle.finish(), expected);
    // The job handle outlived its CpuCaps: entering now says why it cannot.
    let err = job.enter_current_thread().unwrap_err();
    assert!(matches!(err, CgroupError::JobRemoved { .. }), "{err}");
}

#[test]
fn stale_cgroups_of_a_killed_daemon_are_removed_at_open_unless_threads_are_inside() {
    if !root_or_skip(
        "stale_cgroups_of_a_killed_daemon_are_removed_at_open_unless_threads_are_inside",
    ) {
        return;
    }
    // Where this process's instances go: next to a throwaway instance's parent.
    let probe = open("stale-probe", 1.0);
    let bases: Vec<PathBuf> = probe
        .paths()
        .iter()
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    probe.close().unwrap();

    // A killed daemon's leftovers (empty), and another's with a thread still inside.
    let dead = dead_pid();
    let stale: Vec<PathBuf> = bases
        .iter()
        .map(|b| b.join(format!("epochd-{dead}")))
        .collect();
    for s in &stale {
        for d in ["idle", "job-x"] {
            fs::create_dir_all(s.join(d)).unwrap();
        }
    }
    let mut dead2 = dead_pid();
    while dead2 == dead {
        dead2 = dead_pid();
    }
    let busy: Vec<PathBuf> = bases
        .iter()
        .map(|b| b.join(format!("epochd-{dead2}")))
        .collect();
    for b in &busy {
        fs::create_dir(b).unwrap();
    }
    let busy_files: Vec<PathBuf> = busy
        .iter()
        .map(|b| {
            let f = if b.join("tasks").exists() {
                "tasks"
            } else {
                "cgroup.threads"
            };
            b.join(f)
        })
        .collect();
    let parked = Parked::start({
        let files = busy_files.clone();
        move || {
            for f in files {
                fs::write(f, "0").unwrap();
            }
        }
    });

    // Our own name left behind by an earlier instance (same pid: a container restart).
    let mine = config("stale", 1.0);
    let mine_dirs: Vec<PathBuf> = bases
        .iter()
        .map(|b| b.join(mine.name.as_ref().unwrap()))
        .collect();
    for d in &mine_dirs {
        fs::create_dir_all(d.join("job-old")).unwrap();
    }

    let caps = CpuCaps::open(mine).unwrap();
    assert_gone(&stale);
    for d in &mine_dirs {
        assert!(
            !d.join("job-old").exists(),
            "{} survived",
            d.join("job-old").display()
        );
    }
    for b in &busy {
        assert!(
            b.exists(),
            "{} was removed with a thread inside",
            b.display()
        );
    }
    caps.close().unwrap();
    assert_gone(&mine_dirs);

    // Clean the busy one by hand: move the thread back, then remove.
    let back: Vec<PathBuf> = bases
        .iter()
        .map(|b| {
            let f = if b.join("tasks").exists() {
                "tasks"
            } else {
                "cgroup.threads"
            };
            b.join(f)
        })
        .collect();
    for f in &back {
        fs::write(f, parked.tid.to_string()).unwrap();
    }
    parked.finish();
    for b in &busy {
        fs::remove_dir(b).unwrap();
    }
}

#[test]
fn one_name_cannot_be_opened_twice() {
    if !root_or_skip("one_name_cannot_be_opened_twice") {
        return;
    }
    let first = open("twice", 1.0);
    let err = CpuCaps::open(config("twice", 1.0)).unwrap_err();
    assert!(matches!(err, CgroupError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("another `name`"), "{err}");
    // The first instance is untouched.
    let job = first.job("still-works", 0.5).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| job.enter_current_thread().unwrap());
    });
    first.close().unwrap();
    // Free again once closed.
    CpuCaps::open(config("twice", 1.0))
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn a_parent_name_with_threads_inside_is_in_use_and_left_alone() {
    if !root_or_skip("a_parent_name_with_threads_inside_is_in_use_and_left_alone") {
        return;
    }
    // Another live instance under the same name (here: a thread of ours put there by hand).
    let probe = open("inuse-probe", 1.0);
    let bases: Vec<PathBuf> = probe
        .paths()
        .iter()
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    probe.close().unwrap();
    let cfg = config("inuse", 1.0);
    let dirs: Vec<PathBuf> = bases
        .iter()
        .map(|b| b.join(cfg.name.as_ref().unwrap()))
        .collect();
    let list = |d: &Path| {
        let f = if d.join("tasks").exists() {
            "tasks"
        } else {
            "cgroup.threads"
        };
        d.join(f)
    };
    for d in &dirs {
        fs::create_dir(d).unwrap();
    }
    let files: Vec<PathBuf> = dirs.iter().map(|d| list(d)).collect();
    let parked = Parked::start(move || {
        for f in files {
            fs::write(f, "0").unwrap();
        }
    });
    let err = CpuCaps::open(cfg.clone()).unwrap_err();
    assert!(matches!(err, CgroupError::InUse { .. }), "{err}");
    assert!(err.to_string().contains(&parked.tid.to_string()), "{err}");
    for d in &dirs {
        assert_eq!(
            tids_in(d),
            vec![parked.tid],
            "{} was disturbed",
            d.display()
        );
    }
    // Clean up by hand.
    for b in &bases {
        fs::write(list(b), parked.tid.to_string()).unwrap();
    }
    parked.finish();
    for d in &dirs {
        fs::remove_dir(d).unwrap();
    }
}

/// A real daemon killed with SIGKILL: this test binary re-run as a child that opens
/// caps under the default name `epochd-<pid>`, puts a thread in a job, and is killed.
/// Its cgroups stay behind, empty, and the next open removes them.
#[test]
fn cgroups_of_a_daemon_killed_with_sigkill_are_removed_at_the_next_open() {
    const CHILD: &str = "EPOCHD_CGROUPS_KILLED_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let caps = CpuCaps::open(epochd_cgroups::CpuCapConfig {
            parent_cores: Some(1.0),
            ..Default::default()
        })
        .unwrap();
        let job = caps.job("doomed", 0.5).unwrap();
        job.enter_current_thread().unwrap();
        for p in caps.paths() {
            println!("PARENT {}", p.display());
        }
        println!("READY");
        std::thread::sleep(std::time::Duration::from_secs(30));
        unreachable!("the parent kills this process");
    }
    if !root_or_skip("cgroups_of_a_daemon_killed_with_sigkill_are_removed_at_the_next_open") {
        return;
    }
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "removal::cgroups_of_a_daemon_killed_with_sigkill_are_removed_at_the_next_open",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut parents = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("PARENT ") {
            parents.push(PathBuf::from(p));
        }
        if line == "READY" {
            break;
        }
    }
    assert!(!parents.is_empty(), "the child never got its cgroups");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for p in &parents {
        assert!(
            p.join("job-doomed").is_dir(),
            "{} is not left behind",
            p.display()
        );
        assert!(
            tids_in(&p.join("job-doomed")).is_empty(),
            "threads outlived SIGKILL"
        );
    }
    let caps = open("after-kill", 1.0);
    assert_gone(&parents);
    caps.close().unwrap();
}

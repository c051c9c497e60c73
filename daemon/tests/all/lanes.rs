//! Each job in its own lane, in process: a slow job holds up neither the
//! other jobs' results of the same commit nor later commits; one that
//! falls behind is paused within seconds and its run stopped; results past
//! a job's quotas are refused with a clear error; a job asking for more
//! memory than the node's run budget is refused at submission.

use std::time::{Duration, Instant};

use epochd::pipeline::{Processed, QuotaConfig};
use epochd::registry::{JobManifest, RegistryError};
use epochd::results::{Outcome, Results};

use crate::jobs::{commit_epochs, node_with, process_all, runtime, wasm};
use crate::support::now;

fn spin_forever() -> JobManifest {
    JobManifest {
        deadline_ms: 60_000,
        ..JobManifest::new("spin")
    }
}

#[test]
fn a_spinning_job_delays_neither_the_same_commit_nor_later_ones_and_is_paused_for_falling_behind() {
    let node = node_with(|config| {
        config.cgroups = None;
        config.lanes.pause_behind = Duration::from_secs(2);
    });
    let registry = &node.daemon.registry();
    registry.submit(spin_forever(), &wasm("spin")).unwrap();
    registry
        .submit(JobManifest::new("count"), &wasm("count"))
        .unwrap();
    let first = now() - 100;
    let notices = commit_epochs(&node.store, first..first + 3, 50);
    let rt = runtime();
    let started = Instant::now();
    let daemon = node.daemon.clone();
    let all = notices.clone();
    let processing = rt.spawn(async move {
        let mut out = Vec::new();
        for n in &all {
            let daemon = daemon.clone();
            let n = n.clone();
            out.push(tokio::spawn(
                async move { daemon.process(&n).await.unwrap() },
            ));
        }
        let mut records = Vec::new();
        for task in out {
            match task.await.unwrap() {
                Processed::Done(r) => records.extend(r),
                Processed::Gone => panic!("gone"),
            }
        }
        records
    });
    // count's result of every commit is stored while spin still runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = notices
            .iter()
            .filter(|n| {
                node.daemon
                    .results()
                    .get("count", n.epoch, &n.dc, n.seq)
                    .unwrap()
                    .is_some()
            })
            .count();
        if stored == notices.len() {
            break;
        }
        assert!(Instant::now() < deadline, "count's results are held up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !processing.is_finished(),
        "the commits are not done while spin runs (its deadline is 60 s)"
    );
    // spin falls behind, is paused for it, and its run is stopped.
    let records = rt.block_on(processing).unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(50),
        "stopped long before its deadline: {took:?}"
    );
    let spin = registry.get("spin").unwrap();
    let reason = spin.paused().expect("spin is paused");
    assert!(reason.contains("falling behind"), "{reason}");
    let kinds: Vec<&str> = records
        .iter()
        .filter(|r| r.job == "spin")
        .map(|r| match &r.outcome {
            Outcome::Error { kind, .. } => kind.as_str(),
            Outcome::Ok { .. } => "ok",
        })
        .collect();
    assert_eq!(
        kinds.len(),
        notices.len(),
        "one record per commit: {kinds:?}"
    );
    // The commits went to the lanes concurrently: whichever came first
    // ran, and was stopped; the runs waiting behind it are skipped.
    assert_eq!(
        kinds.iter().filter(|k| **k == "cancelled").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "skipped").count(),
        notices.len() - 1,
        "{kinds:?}"
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.job == "count" && matches!(r.outcome, Outcome::Ok { .. }))
            .count(),
        notices.len()
    );
}

#[test]
fn results_past_a_jobs_rate_are_refused_with_the_reason_and_counted() {
    let node = node_with(|config| {
        config.cgroups = None;
        config.quotas = QuotaConfig {
            bytes_per_sec: 1000,
            stored_bytes: 1 << 30,
        };
        config.pause_after = 1000;
    });
    let manifest = JobManifest {
        config: "3000".into(),
        max_result_bytes: 4000,
        ..JobManifest::new("huge")
    };
    node.daemon
        .registry()
        .submit(manifest, &wasm("huge-result"))
        .unwrap();
    let first = now() - 100;
    let notices = commit_epochs(&node.store, first..first + 2, 10);
    let records = runtime().block_on(process_all(&node.daemon, &notices));
    let (ok, refused): (Vec<_>, Vec<_>) = records
        .iter()
        .partition(|r| matches!(r.outcome, Outcome::Ok { .. }));
    // A burst of 10 s of 1000 bytes/s: three results of ~3000 bytes.
    assert_eq!(ok.len(), 3, "{} of {}", ok.len(), records.len());
    for r in &refused {
        let Outcome::Error { kind, message } = &r.outcome else {
            unreachable!()
        };
        assert_eq!(kind.as_str(), "results_rate");
        assert!(message.contains("1000 bytes/s"), "{message}");
        assert!(
            node.daemon
                .results()
                .get("huge", r.epoch, &r.dc, r.seq)
                .unwrap()
                .is_some_and(|stored| stored.outcome == r.outcome),
            "the refusal is what is stored"
        );
    }
    let job = node.daemon.registry().get("huge").unwrap();
    assert_eq!(
        job.stats
            .results_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        refused.len() as u64
    );
    let stored = node.daemon.results().stored_bytes("huge");
    assert!(stored <= 10_000 + 2_000, "{stored} bytes stored");
}

#[test]
fn results_past_a_jobs_stored_bytes_are_refused() {
    let node = node_with(|config| {
        config.cgroups = None;
        config.quotas = QuotaConfig {
            bytes_per_sec: 1 << 30,
            stored_bytes: 10_000,
        };
        config.pause_after = 1000;
    });
    let manifest = JobManifest {
        config: "3000".into(),
        max_result_bytes: 4000,
        ..JobManifest::new("huge")
    };
    node.daemon
        .registry()
        .submit(manifest, &wasm("huge-result"))
        .unwrap();
    let first = now() - 100;
    let notices = commit_epochs(&node.store, first..first + 2, 10);
    let records = runtime().block_on(process_all(&node.daemon, &notices));
    let kinds: Vec<String> = records
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Ok { .. } => "ok".to_owned(),
            Outcome::Error { kind, .. } => kind.to_string(),
        })
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "ok").count(), 3, "{kinds:?}");
    assert!(
        kinds.iter().skip(3).all(|k| k == "results_quota"),
        "{kinds:?}"
    );
    // The refusals themselves are stored (small records saying why).
    let refusals: u64 = records
        .iter()
        .skip(3)
        .map(|r| Results::stored_size(r).unwrap())
        .sum();
    assert!(node.daemon.results().stored_bytes("huge") <= 10_000 + refusals);
}

#[test]
fn a_job_asking_for_more_memory_than_the_run_budget_or_larger_results_than_its_quota_is_refused() {
    let node = node_with(|config| {
        config.cgroups = None;
        config.run_memory_bytes = 256 << 20;
    });
    let greedy = JobManifest {
        memory_mib: 512,
        ..JobManifest::new("greedy")
    };
    let Err(e) = node.daemon.registry().submit(greedy, &wasm("count")) else {
        panic!("taken");
    };
    assert!(matches!(e, RegistryError::Manifest(_)), "{e:?}");
    assert!(
        e.to_string().contains("run memory budget of 256 MiB"),
        "{e}"
    );
    let wordy = JobManifest {
        max_result_bytes: 16 << 20,
        ..JobManifest::new("wordy")
    };
    let Err(e) = node.daemon.registry().submit(wordy, &wasm("count")) else {
        panic!("taken");
    };
    assert!(e.to_string().contains("max_result_bytes"), "{e}");
    assert!(
        node.daemon.registry().list().is_empty(),
        "nothing registered"
    );
    // Within both: taken.
    node.daemon
        .registry()
        .submit(JobManifest::new("count"), &wasm("count"))
        .unwrap();
}

//! Components (ABI v1.1, sdk/wit/job.wit): the Python and JavaScript
//! reference jobs give the Rust modules' bytes on the same epochs, and
//! hostile components end as documented, within their deadline.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use epochd_decode::{decode_raw, SharedEpoch};
use epochd_jobs::{JobModule, RunError, RunLimits, Runtime, RuntimeConfig, SubmitError};
use epochd_workload::{Workload, WorkloadConfig};

use crate::support::*;

pub(crate) fn out(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../wasm-jobs/out")
        .join(path)
}

pub(crate) fn compile(path: &str) -> JobModule {
    let file = out(path);
    let wasm = std::fs::read(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the jobs first with wasm-jobs/build",
            file.display()
        )
    });
    let started = Instant::now();
    let job = runtime()
        .compile(&wasm)
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    println!(
        "{path}: {} bytes, compiled in {:?}",
        wasm.len(),
        started.elapsed()
    );
    job
}

pub(crate) fn workload_epoch(events: usize, dc: &str) -> SharedEpoch {
    let workload = Workload::new(WorkloadConfig::default());
    let mut bytes = Vec::new();
    for event in workload.epoch(1_700_000_000, events) {
        if event.dc() == dc {
            event.write_msgpack(&mut bytes);
        }
    }
    decode_raw(meta(1_700_000_000, dc, 0), &[bytes]).unwrap()
}

pub(crate) fn limits(deadline_ms: u64) -> RunLimits {
    RunLimits {
        deadline: Duration::from_millis(deadline_ms),
        memory_bytes: 256 << 20,
        max_result_bytes: 1 << 20,
        random_seed: 7,
    }
}

#[test]
fn python_and_javascript_reference_jobs_give_the_rust_bytes() {
    let epochs = [workload_epoch(4000, "ams4"), workload_epoch(4000, "lhr1")];
    for job in ["count", "latency", "error-rate"] {
        let rust = compile(&format!("{job}.wasm"));
        for lang in ["python", "javascript"] {
            let other = compile(&format!("{lang}/{job}.wasm"));
            assert!(other.is_component() && other.has_merge());
            let mut results = Vec::new();
            for epoch in &epochs {
                let want = rust.run(&limits(10_000), epoch, b"");
                let got = other.run(&limits(10_000), epoch, b"");
                println!(
                    "{lang}/{job}: {:?} (instantiate {:?})",
                    got.wall, got.instantiate
                );
                let want = want.outcome.unwrap();
                let got = got.outcome.unwrap_or_else(|e| panic!("{lang}/{job}: {e}"));
                assert_eq!(
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want),
                    "{lang}/{job}"
                );
                results.push(got);
            }
            let m = meta(1_700_000_000, "", 0);
            let want = rust.merge(&limits(10_000), &m, &results[0], &results[1], b"");
            let got = other.merge(&limits(10_000), &m, &results[0], &results[1], b"");
            assert_eq!(got.outcome, want.outcome, "{lang}/{job} merge");
            if job == "count" {
                let path = format!("{lang}/{job}.wasm");
                runs_in_a_pool_of_one_slot(&path, &other, &epochs[0], &results[0]);
            }
        }
    }
}

/// A component runs in a runtime of one slot (`max_concurrent_runs` 1):
/// the pool holds its core instances (a Python job's 14) for every run it
/// allows at once.
fn runs_in_a_pool_of_one_slot(path: &str, job: &JobModule, epoch: &SharedEpoch, want: &[u8]) {
    let config = RuntimeConfig {
        max_concurrent_runs: 1,
        ..RuntimeConfig::default()
    };
    let small = Runtime::new(config).unwrap();
    let wasm = std::fs::read(out(path)).unwrap();
    let loaded = small.load(&wasm, &job.artifact().unwrap()).unwrap();
    for _ in 0..2 {
        let got = loaded.run(&limits(10_000), epoch, b"").outcome;
        assert_eq!(got.as_deref(), Ok(want), "{path} in one slot");
    }
}

#[test]
fn hostile_components_end_as_documented_within_their_deadline() {
    let epoch = workload_epoch(200, "ams4");
    for lang in ["python", "javascript"] {
        let job = compile(&format!("{lang}/hostile-loop.wasm"));
        let started = Instant::now();
        let report = job.run(&limits(300), &epoch, b"");
        assert!(
            matches!(report.outcome, Err(RunError::DeadlineExceeded { .. })),
            "{lang}: {:?}",
            report.outcome
        );
        assert!(started.elapsed() < Duration::from_secs(2));

        let job = compile(&format!("{lang}/hostile-memory.wasm"));
        let report = job.run(&limits(5_000), &epoch, b"");
        println!("{lang} memory: {:?}", report.outcome);
        assert!(
            matches!(report.outcome, Err(RunError::OutOfMemory { limit, .. }) if limit == 256 << 20),
            "{lang}: {:?}",
            report.outcome
        );

        let job = compile(&format!("{lang}/hostile-clock.wasm"));
        let a = job.run(&limits(5_000), &epoch, b"");
        let b = job.run(&limits(5_000), &epoch, b"");
        let a = String::from_utf8(a.outcome.unwrap()).unwrap();
        println!("{lang} clock: {a}");
        // The same on every run: the epoch's time, the seeded stream.
        assert_eq!(a, String::from_utf8(b.outcome.unwrap()).unwrap());
        let clock: serde_json::Value = serde_json::from_str(&a).unwrap();
        let (key, epoch_time) = match lang {
            "python" => ("time", serde_json::json!(1_700_000_000.0)),
            _ => ("date", serde_json::json!(1_700_000_000_000u64)),
        };
        assert_eq!(clock[key][0], epoch_time, "{a}");
        assert_eq!(clock[key][1], epoch_time, "{a}");
        if lang == "python" {
            // A sleep advances the virtual clock by exactly its length.
            assert_eq!(clock["time"][2], serde_json::json!(1_700_000_000.5), "{a}");
        }
    }
    // No file and no socket is reachable: each attempt is the documented
    // error, and the run goes on.
    for (what, errors) in [
        ("file", &["FileNotFoundError"][..]),
        ("socket", &["gaierror", "PermissionError"][..]),
    ] {
        let job = compile(&format!("python/hostile-{what}.wasm"));
        let report = job.run(&limits(5_000), &epoch, b"");
        let text = String::from_utf8(report.outcome.unwrap()).unwrap();
        println!("python {what}: {text}");
        for error in errors {
            assert_contains(&text, error);
        }
    }
    // Handles live in the host, outside the memory cap: a job keeping
    // every column it asks for gets no more at the bound, told why in its
    // log, and ends well within its deadline.
    let job = compile("python/hostile-handles.wasm");
    let report = job.run(&limits(10_000), &epoch, b"");
    let result: serde_json::Value = serde_json::from_slice(&report.outcome.unwrap()).unwrap();
    let held = result["held"].as_u64().unwrap();
    println!("python handles: {held} held, {:?}", report.wall);
    // All of the 65,536 but those WASI's streams hold at that moment.
    assert!((65_000..=65_536).contains(&held), "{result}");
    assert!(
        report
            .logs
            .iter()
            .any(|l| l.message.contains("65536 handles")),
        "{:?}",
        report.logs
    );
    // JavaScript has no file or socket API of its own; `fetch` needs the
    // engine's `http` feature, whose wasi:http imports are refused at
    // submission, each named, with the advice to leave the feature out.
    let wasm = std::fs::read(out("javascript/hostile-network.wasm")).unwrap();
    match runtime().compile(&wasm) {
        Ok(_) => panic!("a component importing wasi:http was accepted"),
        Err(e @ SubmitError::Imports { .. }) => {
            let text = e.to_string();
            println!("javascript network: {text}");
            assert_contains(&text, "`wasi:http/outgoing-handler@0.2");
            assert_contains(&text, "`wasi:http/types@0.2");
            assert_contains(&text, "--disable http fetch-event");
        }
        Err(e) => panic!("refused for another reason: {e}"),
    }
}

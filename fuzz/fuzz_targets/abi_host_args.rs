//! The job ABI's host functions (daemon/jobs/src/host.rs, sdk/ABI.md) with
//! any arguments: a fixed driver job (src/driver.rs) calls them as its
//! config says, with fuzzer-chosen pointers, lengths, indices and handles,
//! over a small decoded epoch that has every kind of column and container.
//!
//! Input: one mode byte (bit 0: `epochd_merge` instead of `epochd_run`),
//! then the driver's config: its program (src/abi_ops.rs).
//!
//! Properties: the host never panics or crashes; every run ends in a
//! result or a `RunError` of the job's making (never `Busy` or
//! `Instantiate`: runs are sequential, and the driver instantiates), and
//! within the documented caps on results, logs and `fail` messages.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use epochd_decode::{decode_raw, EpochMeta, SharedEpoch};
use epochd_fuzz::driver;
use epochd_jobs::{
    JobModule, RunError, RunLimits, Runtime, RuntimeConfig, MAX_FAIL_MESSAGE_BYTES, MAX_LOG_BYTES,
    MAX_LOG_LINES,
};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

/// Small caps, so that a run stays fast whatever the program asks for.
const LIMITS: RunLimits = RunLimits {
    deadline: Duration::from_millis(100),
    memory_bytes: 1 << 20,
    max_result_bytes: 4096,
    random_seed: 0,
};

struct Fixture {
    // Keeps the engine (and its ticker) alive.
    _runtime: Runtime,
    driver: JobModule,
    epoch: SharedEpoch,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = Runtime::new(RuntimeConfig {
            tick_ms: 5,
            max_concurrent_runs: 4,
            max_memory_bytes: 1 << 20,
            ..RuntimeConfig::default()
        })
        .expect("the job runtime starts");
        let driver = runtime
            .compile(driver::wat().as_bytes())
            .unwrap_or_else(|e| panic!("the driver compiles: {e}\n{}", driver::wat()));
        Fixture {
            _runtime: runtime,
            driver,
            epoch: small_epoch(),
        }
    })
}

/// A few hundred events with a column of every type (dense and sparse, a
/// dictionary and a plain string column, raw values), a list and a map
/// container, in two chunks.
fn small_epoch() -> SharedEpoch {
    let event = |i: u64| {
        let user = ["alice", "bob", "carol"][(i % 3) as usize];
        let mut e = json!({
            "timestamp": 1_700_000_000 + i / 100,
            "type": if i.is_multiple_of(3) { "AV" } else { "WEB" },
            "status": 200 + (i % 5) * 100,
            "ok": i.is_multiple_of(2),
            "user": user,
            "id": format!("req-{i}"),
            "tags": ["a", i, {"deep": [i]}],
            "nested": {"x": {"y": i}},
            "either": if i.is_multiple_of(2) { json!(1) } else { json!("one") },
        });
        if i.is_multiple_of(2) {
            e["ms"] = json!(i as f64 * 0.5);
        }
        if i.is_multiple_of(7) {
            e["none"] = json!(null);
            e["empty"] = json!({});
            e["big"] = json!(u64::MAX);
        }
        if i.is_multiple_of(50) {
            let exp: serde_json::Map<String, serde_json::Value> =
                (0..70).map(|k| (format!("exp{k}"), json!(k + i))).collect();
            e["experiments"] = exp.into();
        }
        rmp_serde::to_vec_named(&e).expect("an event encodes")
    };
    let chunk = |range: std::ops::Range<u64>| -> Vec<u8> { range.flat_map(event).collect() };
    let meta = EpochMeta {
        epoch: 1_700_000_000,
        dc: "ams4".into(),
        seq: 1,
    };
    decode_raw(meta, &[chunk(0..150), chunk(150..300)]).expect("the fixture epoch decodes")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, config)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let report = if mode & 1 == 0 {
        f.driver.run(&LIMITS, &f.epoch, config)
    } else {
        let meta = f.epoch.meta().clone();
        f.driver
            .merge(&LIMITS, &meta, b"left", br#"{"right":1}"#, config)
    };
    // To see what a seed or a crash does: FUZZ_DEBUG=1 <binary> <input>.
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        eprintln!("{:?} logs {:?}", report.outcome, report.logs);
    }
    match &report.outcome {
        Ok(result) => assert!(result.len() <= LIMITS.max_result_bytes),
        Err(RunError::Failed { message, .. }) => {
            assert!(
                message.len() <= MAX_FAIL_MESSAGE_BYTES,
                "{} bytes",
                message.len()
            )
        }
        Err(e @ (RunError::Busy { .. } | RunError::Instantiate { .. } | RunError::NoMerge)) => {
            panic!("not the job's doing: {e}")
        }
        Err(_) => {}
    }
    assert!(report.logs.len() <= MAX_LOG_LINES);
    let log_bytes: usize = report.logs.iter().map(|l| l.message.len()).sum();
    assert!(log_bytes <= MAX_LOG_BYTES, "{log_bytes} bytes of logs");
});

//! kill -9 of the store, several times, under generated load: every event the
//! generator saw acknowledged is stored exactly once, no event twice, and
//! every commit reaches the daemon.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use epochd_workload::{Workload, WorkloadConfig};
use serde_json::Value;

use crate::support::*;

#[test]
fn acknowledged_data_survives_repeated_kill_9_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let socket = dir.path().join("hooks.sock");
    let socket = socket.to_str().unwrap();
    let record = dir.path().join("acked.jsonl");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let store_args = [
        "store",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        &listen,
        "--grace-ms",
        "500",
        "--hook-socket",
        socket,
    ];
    let store_log = dir.path().join("store.log");
    let daemon_log = dir.path().join("daemon.log");
    let store_url = format!("http://{listen}");
    let daemon = Proc::daemon(
        socket,
        &store_url,
        &dir.path().join("daemon"),
        &[],
        &daemon_log,
    );
    let (mut store, url) = Proc::node(&store_args, &store_log);

    let mut gen = std::process::Command::new(env!("CARGO_BIN_EXE_epochd"))
        .args([
            "gen",
            "--url",
            &url,
            "--rate",
            "2000",
            "--batch",
            "250",
            "--concurrency",
            "16",
        ])
        .args([
            "--duration",
            "12",
            "--wait-commit",
            "--record",
            record.to_str().unwrap(),
        ])
        .env("EPOCHD_LOG", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // Kill at moments that differ from run to run (a cheap clock-seeded jitter).
    let seed = Instant::now().elapsed().subsec_nanos() as u64 ^ now();
    let started = Instant::now();
    for (i, at_ms) in [2_000u64, 4_500, 7_000, 9_500].into_iter().enumerate() {
        let jitter = (seed >> (i * 8)) % 800;
        let at = Duration::from_millis(at_ms + jitter);
        std::thread::sleep(at.saturating_sub(started.elapsed()));
        store.kill9();
        std::thread::sleep(Duration::from_millis(200 + (seed >> (i * 8 + 4)) % 400));
        store = Proc::node(&store_args, &store_log).0;
    }
    assert!(gen.wait().unwrap().success());

    // Let the last epochs seal and every notice drain to the daemon.
    wait_until(20, "all epochs sealed", || {
        metric(&url, "epochd_store_open_epochs") == Some(0.0)
    });
    wait_until(20, "the hook backlog to drain", || {
        metric(&url, "epochd_store_hook_backlog") == Some(0.0)
    });
    store.stop();
    daemon.stop();

    // What the generator was told.
    let acked: Vec<Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        acked.len() > 20,
        "the generator got few acknowledgements: {}",
        acked.len()
    );
    let workload = Workload::new(WorkloadConfig::default());
    let (commits, stored) = stored_events(&data);
    let mut count: HashMap<&[u8], usize> = HashMap::new();
    for events in stored.values() {
        for e in events {
            *count.entry(e.as_slice()).or_default() += 1;
        }
    }
    let twice = count.values().filter(|c| **c > 1).count();
    assert_eq!(twice, 0, "{twice} events are stored more than once");
    let mut acked_events = 0;
    for line in &acked {
        let epoch = line["epoch"].as_u64().unwrap();
        let rate = line["rate"].as_u64().unwrap() as usize;
        let start = line["start"].as_u64().unwrap() as usize;
        let n = line["count"].as_u64().unwrap() as usize;
        for event in workload.epoch(epoch, rate).skip(start).take(n) {
            let mut bytes = Vec::new();
            event.write_msgpack(&mut bytes);
            assert_eq!(
                count.get(bytes.as_slice()),
                Some(&1),
                "an acknowledged event of epoch {epoch} is lost"
            );
            acked_events += 1;
        }
        // Every commit the client was told about exists.
        for c in line["commits"].as_array().unwrap() {
            let seq = c["seq"].as_u64().unwrap() as u32;
            assert!(
                commits
                    .iter()
                    .any(|s| s.epoch == c["epoch"] && s.dc == c["dc"] && s.seq == seq),
                "commit {c} was acknowledged but is not in the store"
            );
        }
    }
    // Every commit reached the daemon, with the digest of what is stored.
    let received = received(&daemon_log);
    let mut deliveries: BTreeMap<(u64, String, u32), usize> = BTreeMap::new();
    for r in &received {
        *deliveries
            .entry((r.epoch, r.dc.clone(), r.seq))
            .or_default() += 1;
    }
    for c in &commits {
        assert!(
            received.iter().any(|r| r.epoch == c.epoch
                && r.dc == c.dc
                && r.seq == c.seq
                && r.digest == c.digest),
            "commit {}/{}/{} never reached the daemon",
            c.epoch,
            c.dc,
            c.seq
        );
    }
    let redelivered: usize = deliveries.values().map(|n| n - 1).sum();
    // Batches the generator sent again after a kill, with their
    // Idempotency-Key; a replayed one was stored by an earlier try.
    let retried = acked
        .iter()
        .filter(|l| l["tries"].as_u64() > Some(1))
        .count();
    let replayed = acked.iter().filter(|l| l["replayed"] == true).count();
    eprintln!(
        "{} acknowledged events in {} batches ({retried} after a retry, {replayed} of them idempotent replays); {} commits; {} deliveries, {redelivered} of them redeliveries",
        acked_events,
        acked.len(),
        commits.len(),
        received.len()
    );
}

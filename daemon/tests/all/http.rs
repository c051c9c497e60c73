//! Both ingest paths round-trip over real HTTP, and every commit reaches the
//! daemon's receiver.

use std::collections::BTreeMap;

use epochd_store::{decompress, split_events, Manifest};
use epochd_workload::{Format, Workload, WorkloadConfig};
use serde_json::Value;

use crate::support::*;

/// Fetches every event of (epoch, dc, seq) through the read API.
fn events_over_http(url: &str, epoch: u64, dc: &str, seq: u32) -> Vec<Vec<u8>> {
    let http = client();
    let manifest: Manifest = get_json(&format!("{url}/v1/manifests/{epoch}/{dc}/{seq}"));
    let mut events = Vec::new();
    for entry in &manifest.chunks {
        let key = manifest.chunk_key(entry);
        let blob = http
            .get(format!("{url}/v1/chunks/{key}"))
            .send()
            .unwrap()
            .error_for_status()
            .unwrap()
            .bytes()
            .unwrap();
        assert_eq!(epochd_store::Checksum::of(&blob), entry.checksum);
        let raw = decompress(&blob).unwrap();
        events.extend(split_events(&raw).map(|e| e.unwrap().to_vec()));
    }
    events.sort();
    events
}

/// The workload's events of `epoch` as MessagePack, per dc, sorted.
fn expected(epoch: u64, count: usize) -> BTreeMap<String, Vec<Vec<u8>>> {
    let w = Workload::new(WorkloadConfig::default());
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for e in w.epoch(epoch, count) {
        let mut bytes = Vec::new();
        e.write_msgpack(&mut bytes);
        out.entry(e.dc().to_owned()).or_default().push(bytes);
    }
    out.values_mut().for_each(|v| v.sort());
    out
}

#[test]
fn events_posted_over_http_come_back_per_epoch_and_dc() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let (node, url) = Proc::node(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--grace-ms",
            "0",
        ],
        &log,
    );
    let w = Workload::new(WorkloadConfig::default());
    let first = now() - 20;
    for (epoch, format, content_type) in [
        (first, Format::Ndjson, "application/x-ndjson"),
        (first + 1, Format::MsgPack, "application/msgpack"),
    ] {
        let answer = post_committed(&url, w.encode_epoch(epoch, 400, format), content_type);
        assert_eq!(answer["accepted"], 400);
        assert_eq!(answer["commits"].as_array().unwrap().len(), 4, "{answer}");
    }
    let listed: Value = get_json(&format!("{url}/v1/commits?from={first}&to={}", first + 1));
    let commits = listed["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 8);
    for epoch in [first, first + 1] {
        for (dc, events) in expected(epoch, 400) {
            // NDJSON was transcoded: same values, and the workload writes its
            // MessagePack the way the transcoder does, so the same bytes too.
            assert_eq!(
                events_over_http(&url, epoch, &dc, 0),
                events,
                "{epoch}/{dc}"
            );
        }
    }
    wait_until(10, "the daemon to receive all 8 commits", || {
        received(&log).len() >= 8
    });
    let got = received(&log);
    for c in commits {
        assert!(
            got.iter()
                .any(|r| r.epoch == c["epoch"] && r.dc == c["dc"] && r.digest == c["digest"]),
            "commit {c} never reached the daemon"
        );
    }
    node.stop();
}

#[test]
fn the_low_level_path_commits_relocated_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let record = dir.path().join("acked.jsonl");
    let (node, url) = Proc::node(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &dir.path().join("serve.log"),
    );
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_epochd"))
        .args([
            "gen",
            "--url",
            &url,
            "--path",
            "low",
            "--rate",
            "300",
            "--duration",
            "3",
        ])
        .args(["--record", record.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let acked: Vec<Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(acked.len() >= 8, "at least two epochs x 4 dcs: {acked:?}");
    for line in &acked {
        let epoch = line["epoch"].as_u64().unwrap();
        let dc = line["dc"].as_str().unwrap();
        assert_eq!(
            events_over_http(&url, epoch, dc, 0),
            expected(epoch, 300)[dc]
        );
    }
    node.stop();
}

//! High-level ingest round-trips events exactly, per epoch and dc.

use std::time::Duration;

use epochd_store::{Format, ManifestKey, Store};
use epochd_workload::Format as WorkloadFormat;

use crate::support::*;

fn shuffled_batches(events: &[u8], batches: usize, seed: u64) -> Vec<Vec<u8>> {
    // Deal events to batches in a scrambled order, so epochs and dcs arrive
    // interleaved and out of order.
    let all: Vec<&[u8]> = epochd_store::split_events(events)
        .map(Result::unwrap)
        .collect();
    let mut order: Vec<usize> = (0..all.len()).collect();
    let mut x = seed | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut out = vec![Vec::new(); batches];
    for (n, i) in order.into_iter().enumerate() {
        out[n % batches].extend_from_slice(all[i]);
    }
    out
}

#[test]
fn msgpack_events_come_back_byte_for_byte_per_epoch_and_dc() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(holding_config(dir.path())).unwrap();
    let first = now() - 120;
    let events = encode(first..first + 5, 700, WorkloadFormat::MsgPack);
    for batch in shuffled_batches(&events, 7, 11) {
        let receipt = store.ingest(&batch, Format::MsgPack).unwrap();
        assert_eq!(receipt.too_old_total, 0);
    }
    let committed = store.seal_all().unwrap();
    assert_eq!(committed.len(), 5 * 4, "5 epochs x 4 dcs");
    assert_eq!(
        stored_events(&store, first, first + 4),
        expected_events(&events)
    );
}

#[test]
fn ndjson_events_come_back_as_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(quick_config(dir.path())).unwrap();
    let epoch = now() - 30;
    let ndjson = encode([epoch], 500, WorkloadFormat::Ndjson);
    let receipt = store.ingest(&ndjson, Format::Ndjson).unwrap();
    assert_eq!(receipt.accepted, 500);
    let commits = store
        .wait_committed(&receipt, Duration::from_secs(20))
        .unwrap();
    assert_eq!(commits.len(), 4);

    let mut expected: Vec<serde_json::Value> = ndjson
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let mut got: Vec<serde_json::Value> = Vec::new();
    for key in &commits {
        let raw = store.commit_events(key).unwrap().unwrap();
        for event in epochd_store::split_events(&raw) {
            got.push(rmp_serde::from_slice(event.unwrap()).unwrap());
        }
    }
    let by_text = |v: &serde_json::Value| v.to_string();
    expected.sort_by_key(by_text);
    got.sort_by_key(by_text);
    assert_eq!(got, expected);
    // Integers stay integers and floats stay floats through the trip.
    assert!(got
        .iter()
        .all(|e| e["timestamp"].is_f64() && e["epoch"].is_u64()));
}

#[test]
fn chunks_are_cut_at_event_boundaries_near_the_target_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(epochd_store::StoreConfig {
        chunk_target_bytes: 64 * 1024,
        ..holding_config(dir.path())
    })
    .unwrap();
    let epoch = now() - 60;
    let events = encode([epoch], 3000, WorkloadFormat::MsgPack);
    store.ingest(&events, Format::MsgPack).unwrap();
    store.seal_all().unwrap();
    let manifest = store
        .manifest(&ManifestKey {
            epoch,
            dc: "ams4".into(),
            seq: 0,
        })
        .unwrap()
        .unwrap();
    let web_app: Vec<_> = manifest
        .chunks
        .iter()
        .filter(|c| c.event_type == "WEB" && c.subtype.as_deref() == Some("app"))
        .collect();
    assert!(web_app.len() > 1, "a lane over the target must be split");
    for c in &manifest.chunks {
        assert!(
            c.raw_bytes <= 64 * 1024,
            "chunk of {} raw bytes",
            c.raw_bytes
        );
    }
    // Per chunk the ratio varies (a lane's last chunk may hold a few events).
    let stored: u64 = manifest.chunks.iter().map(|c| c.bytes).sum();
    let raw: u64 = manifest.chunks.iter().map(|c| c.raw_bytes).sum();
    assert!(
        stored * 3 < raw,
        "zstd should compress the workload: {raw} -> {stored}"
    );
    assert_eq!(
        stored_events(&store, epoch, epoch),
        expected_events(&events)
    );
}

#[test]
fn late_events_become_a_supplementary_commit_of_their_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(quick_config(dir.path())).unwrap();
    let epoch = now() - 20;
    let line =
        |n: u32| format!(r#"{{"timestamp":{epoch}.{n:06},"type":"AV","dc":"fra3","n":{n}}}"#);
    let first = store.ingest(line(1).as_bytes(), Format::Ndjson).unwrap();
    let c1 = store
        .wait_committed(&first, Duration::from_secs(20))
        .unwrap();
    let late = store.ingest(line(2).as_bytes(), Format::Ndjson).unwrap();
    let c2 = store
        .wait_committed(&late, Duration::from_secs(20))
        .unwrap();
    assert_eq!(c1[0].seq, 0);
    assert_eq!(c2[0].seq, 1);
    assert_eq!((c2[0].epoch, c2[0].dc.as_str()), (epoch, "fra3"));
    let listed = store.commits(epoch, epoch, Some("fra3")).unwrap();
    assert_eq!(
        listed.iter().map(|c| (c.seq, c.events)).collect::<Vec<_>>(),
        [(0, 1), (1, 1)]
    );
    assert_eq!(store.stats().supplementary_commits, 1);
}

#[test]
fn events_without_dc_or_subtype_use_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(quick_config(dir.path())).unwrap();
    let epoch = now() - 5;
    let body = format!(r#"{{"timestamp":{epoch},"type":"PING"}}"#);
    let receipt = store.ingest(body.as_bytes(), Format::Ndjson).unwrap();
    let commits = store
        .wait_committed(&receipt, Duration::from_secs(20))
        .unwrap();
    assert_eq!(commits[0].dc, "local");
    let manifest = store.manifest(&commits[0]).unwrap().unwrap();
    assert_eq!(manifest.chunks[0].subtype, None);
    assert_eq!(manifest.chunks[0].event_type, "PING");
}

#[test]
fn wait_committed_returns_only_once_every_earlier_part_of_the_epoch_is_committed() {
    // Regression: `seal_all` racing the background sealer on one (epoch, dc)
    // could commit a newer part first, and `wait_committed` returned while
    // the older part was still being compressed and committed.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(epochd_store::StoreConfig {
        quiet_ms: 0,
        seal_tick_ms: 1,
        zstd_level: 19, // slow compression widens the window the bug needs
        ..quick_config(dir.path())
    })
    .unwrap();
    let w = workload();
    let epoch = now() - 30;
    let big: Vec<u8> = w
        .epoch(epoch, 4000)
        .filter(|e| e.dc() == "ams4")
        .flat_map(|e| {
            let mut b = Vec::new();
            e.write_msgpack(&mut b);
            b
        })
        .collect();
    let big_events = epochd_store::split_events(&big).count() as u64;
    let mut sent = 0;
    for round in 0..5u32 {
        store.ingest(&big, Format::MsgPack).unwrap();
        // Wait until the sealer has taken the big part (it is compressing it)...
        while store.stats().open_epochs > 0 {
            std::thread::yield_now();
        }
        // ...then add a small part and seal it ourselves.
        let small = format!(r#"{{"timestamp":{epoch}.5,"type":"AV","dc":"ams4","round":{round}}}"#);
        let receipt = store.ingest(small.as_bytes(), Format::Ndjson).unwrap();
        sent += big_events + 1;
        store.seal_all().unwrap();
        store
            .wait_committed(&receipt, Duration::from_secs(20))
            .unwrap();
        let stored: u64 = store
            .commits(epoch, epoch, None)
            .unwrap()
            .iter()
            .map(|c| c.events)
            .sum();
        assert_eq!(
            stored, sent,
            "round {round}: a receipt returned before an older part was committed"
        );
    }
}

#[test]
fn an_old_epoch_replayed_in_several_batches_is_committed_once() {
    // Regression: the longest hold was counted from the end of the epoch's
    // second, so an epoch older than that was sealed at every tick and
    // committed in slivers while a replay was still sending it.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(epochd_store::StoreConfig {
        quiet_ms: 300,
        max_hold_ms: 2000,
        ..quick_config(dir.path())
    })
    .unwrap();
    let epoch = now() - 600;
    let events = encode([epoch], 1000, WorkloadFormat::MsgPack);
    let batches = shuffled_batches(&events, 5, 3);
    let mut last = None;
    for batch in &batches {
        last = Some(store.ingest(batch, Format::MsgPack).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    store
        .wait_committed(&last.unwrap(), Duration::from_secs(20))
        .unwrap();
    let commits = store.commits(epoch, epoch, None).unwrap();
    assert!(commits.iter().all(|c| c.seq == 0), "{commits:?}");
    assert_eq!(commits.len(), 4, "one commit per dc");
}

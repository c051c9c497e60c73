//! Every event comes back, exactly, from the decoded columns.

use epochd_decode::{decode, decode_raw, ContainerKind, EpochMeta, SharedEpoch, ValueType};
use epochd_workload::{Format, Workload, WorkloadConfig};
use serde_json::{json, Value};

use crate::support::reconstruct;

fn meta(epoch: u64) -> EpochMeta {
    EpochMeta {
        epoch,
        dc: "ams4".into(),
        seq: 0,
    }
}

/// The events of back-to-back MessagePack, each as its own bytes: read
/// one value at a time and note where it ended. (The decoder's tests do
/// without the store, whose `split_events` does the same.)
fn split_events(msgpack: &[u8]) -> Vec<&[u8]> {
    let mut cursor = std::io::Cursor::new(msgpack);
    let mut events = Vec::new();
    while (cursor.position() as usize) < msgpack.len() {
        let start = cursor.position() as usize;
        let _: Value = rmp_serde::from_read(&mut cursor).unwrap();
        events.push(&msgpack[start..cursor.position() as usize]);
    }
    events
}

fn to_values(msgpack: &[u8]) -> Vec<Value> {
    split_events(msgpack)
        .into_iter()
        .map(|e| rmp_serde::from_slice(e).unwrap())
        .collect()
}

fn encode(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|e| rmp_serde::to_vec_named(e).unwrap())
        .collect()
}

/// Cuts MessagePack events into `n` chunks at event boundaries.
fn cut(msgpack: &[u8], n: usize) -> Vec<Vec<u8>> {
    let events = split_events(msgpack);
    let per = events.len().div_ceil(n);
    events.chunks(per.max(1)).map(|c| c.concat()).collect()
}

fn column<'a>(
    epoch: &'a SharedEpoch,
    path: &str,
    t: ValueType,
) -> Option<epochd_decode::Column<'a>> {
    epoch
        .view()
        .columns()
        .unwrap()
        .iter()
        .find(|c| c.path() == Some(path) && c.type_() == t)
}

#[test]
fn the_reference_workload_round_trips_through_the_columns() {
    let w = Workload::new(WorkloadConfig::default());
    for epoch in [1_700_000_000u64, 1_700_000_001, 1_700_000_002] {
        let msgpack = w.encode_epoch(epoch, 3000, Format::MsgPack);
        let blobs: Vec<Vec<u8>> = cut(&msgpack, 4)
            .iter()
            .map(|raw| epochd_codec::compress(raw, 3))
            .collect();
        let decoded = decode(meta(epoch), &blobs).unwrap();
        assert_eq!(decoded.view().rows(), 3000);
        assert_eq!(
            reconstruct(decoded.view()),
            to_values(&msgpack),
            "epoch {epoch}"
        );
    }
}

#[test]
fn the_reference_workload_has_the_expected_shape() {
    let w = Workload::new(WorkloadConfig::default());
    let msgpack = w.encode_epoch(1_700_000_000, 5000, Format::MsgPack);
    let decoded = decode_raw(meta(1_700_000_000), &cut(&msgpack, 3)).unwrap();
    let view = decoded.view();
    // Dense fields carry no row ids; WEB-only fields are sparse.
    let timestamp = column(&decoded, "timestamp", ValueType::Float).unwrap();
    assert!(timestamp.dense() && timestamp.rows().is_none());
    let wallclock = column(&decoded, "tuning.wallclock", ValueType::Int).unwrap();
    assert!(!wallclock.dense());
    assert_eq!(
        wallclock.rows().unwrap().len(),
        wallclock.ints().unwrap().len()
    );
    // Few distinct strings: a dictionary; mostly distinct: plain.
    let subtype = column(&decoded, "subtype", ValueType::Str).unwrap();
    assert!(subtype.ids().is_some() && subtype.dict().unwrap().offsets().unwrap().len() <= 7);
    let session = column(&decoded, "action.session_id", ValueType::Str).unwrap();
    assert!(session.ids().is_none() && session.plain().is_some());
    // The dynamic-key map is one container, not thousands of columns.
    let containers: Vec<_> = view.containers().unwrap().iter().collect();
    let experiments = containers
        .iter()
        .find(|c| c.path() == Some("experiments"))
        .unwrap();
    assert_eq!(experiments.kind(), ContainerKind::Map);
    assert!(view
        .columns()
        .unwrap()
        .iter()
        .all(|c| !c.path().unwrap().starts_with("experiments")));
    assert!(
        view.columns().unwrap().len() < 80,
        "{} columns",
        view.columns().unwrap().len()
    );
    let warnings = containers
        .iter()
        .find(|c| c.path() == Some("warnings"))
        .unwrap();
    assert_eq!(warnings.kind(), ContainerKind::List);
    // Sorted for binary search.
    let keys: Vec<(String, u8)> = view
        .columns()
        .unwrap()
        .iter()
        .map(|c| (c.path().unwrap().to_owned(), c.type_().0))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn a_decoded_epoch_is_no_larger_than_its_messagepack() {
    let w = Workload::new(WorkloadConfig::default());
    let msgpack = w.encode_epoch(1_700_000_000, 20_000, Format::MsgPack);
    let decoded = decode_raw(meta(1_700_000_000), &cut(&msgpack, 8)).unwrap();
    let ratio = decoded.len() as f64 / msgpack.len() as f64;
    eprintln!(
        "decoded {} bytes for {} of MessagePack: {ratio:.3}x",
        decoded.len(),
        msgpack.len()
    );
    assert!(
        ratio <= 1.2,
        "decoded epoch is {ratio:.3}x its MessagePack size"
    );
}

#[test]
fn odd_shapes_round_trip() {
    let events = vec![
        json!({"timestamp": 1, "type": "A", "name": "Zürich ☃ 日本", "n": 1, "flag": true, "none": null}),
        json!({"timestamp": 2, "type": "A", "n": "one", "nested": {"a": {"b": {"c": 1.5}}}, "empty": {}}),
        json!({"timestamp": 3, "type": "B", "list": [1, "two", 3.0, null, false], "maps": [{"x": 1}, {"y": [2]}]}),
        json!({"timestamp": 4, "type": "B", "big": 18446744073709551615u64, "neg": -9223372036854775808i64, "list": []}),
        json!({"timestamp": 5, "type": "C"}),
    ];
    let decoded = decode_raw(meta(1), &[encode(&events)]).unwrap();
    assert_eq!(reconstruct(decoded.view()), events);
    // One path, two types: two columns.
    assert!(column(&decoded, "n", ValueType::Int).is_some());
    assert!(column(&decoded, "n", ValueType::Str).is_some());
    assert!(
        column(&decoded, "big", ValueType::Raw).is_some(),
        "beyond i64: kept raw"
    );
}

#[test]
fn binary_values_are_kept_raw() {
    let mut event = Vec::new();
    rmp::encode::write_map_len(&mut event, 3).unwrap();
    rmp::encode::write_str(&mut event, "timestamp").unwrap();
    rmp::encode::write_uint(&mut event, 1).unwrap();
    rmp::encode::write_str(&mut event, "type").unwrap();
    rmp::encode::write_str(&mut event, "A").unwrap();
    rmp::encode::write_str(&mut event, "blob").unwrap();
    rmp::encode::write_bin(&mut event, &[0, 159, 146, 150]).unwrap();
    let decoded = decode_raw(meta(1), &[event]).unwrap();
    let blob = column(&decoded, "blob", ValueType::Raw).unwrap();
    let plain = blob.plain().unwrap();
    assert_eq!(plain.bytes().unwrap().bytes(), [0xc4, 4, 0, 159, 146, 150]);
}

fn with_experiments(start: usize, n: usize, keys_per_event: usize) -> Vec<Value> {
    (start..start + n)
        .map(|i| {
            let experiments: serde_json::Map<String, Value> = (0..keys_per_event)
                .map(|k| (format!("exp_{}", (i * 7 + k * 13) % 500), json!(k % 3)))
                .collect();
            json!({"timestamp": i, "type": "WEB", "experiments": experiments, "tuning": {"status": 200}})
        })
        .collect()
}

#[test]
fn a_map_whose_keys_vary_becomes_a_container_mid_chunk() {
    let events = with_experiments(0, 300, 5);
    let decoded = decode_raw(meta(1), &[encode(&events)]).unwrap();
    let view = decoded.view();
    assert_eq!(view.containers().unwrap().len(), 1);
    assert!(view
        .columns()
        .unwrap()
        .iter()
        .all(|c| !c.path().unwrap().starts_with("experiments")));
    assert!(column(&decoded, "tuning.status", ValueType::Int)
        .unwrap()
        .dense());
    assert_eq!(reconstruct(view), events);
}

#[test]
fn a_map_that_varies_in_one_chunk_is_a_container_in_all() {
    // Chunk 1 sees few keys (struct columns there); chunk 2 sees hundreds.
    let few = with_experiments(0, 3, 2);
    let many = with_experiments(3, 300, 5);
    let decoded = decode_raw(meta(1), &[encode(&few), encode(&many)]).unwrap();
    let view = decoded.view();
    assert!(view
        .columns()
        .unwrap()
        .iter()
        .all(|c| !c.path().unwrap().starts_with("experiments")));
    let all: Vec<Value> = few.into_iter().chain(many).collect();
    assert_eq!(reconstruct(view), all);
}

#[test]
fn malformed_chunks_are_errors_not_panics() {
    let good = encode(&[json!({"timestamp": 1, "type": "A"})]);
    for bad in [
        good[..good.len() - 1].to_vec(),
        vec![0x92, 1, 2],
        vec![0xc1],
        vec![0x81, 0x01, 0x02],
    ] {
        assert!(
            decode_raw(meta(1), std::slice::from_ref(&bad)).is_err(),
            "{bad:?}"
        );
    }
    assert!(decode(meta(1), &[b"not zstd".to_vec()]).is_err());
}

#[test]
fn the_shared_epoch_is_sealed_and_freed_with_its_last_handle() {
    use std::io::Write;
    let decoded = decode_raw(meta(1), &[encode(&[json!({"timestamp": 1, "type": "A"})])]).unwrap();
    let mut file = decoded.file();
    assert!(file.write_all(b"x").is_err(), "sealed against writes");
    assert!(
        decoded.file().set_len(1).is_err(),
        "sealed against shrinking"
    );
    let second = decoded.clone();
    assert_eq!(decoded.handles(), 2);
    drop(second);
    assert_eq!(decoded.handles(), 1);
}

#[test]
fn an_empty_commit_decodes_to_no_rows() {
    let decoded = decode_raw(meta(1), &[Vec::<u8>::new()]).unwrap();
    assert_eq!(decoded.view().rows(), 0);
    assert_eq!(decoded.view().columns().unwrap().len(), 0);
}

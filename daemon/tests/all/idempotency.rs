//! `Idempotency-Key` over real HTTP: a producer's retry of a batch is
//! answered with the first answer and stores nothing, also after a
//! `kill -9` of the node right after the batch was acknowledged.

use reqwest::blocking::Response;
use serde_json::Value;

use crate::support::*;

const NDJSON: &str = "application/x-ndjson";

/// `count` NDJSON events of `epoch`, in two data centers.
fn events(epoch: u64, count: usize, tag: &str) -> Vec<u8> {
    let mut body = String::new();
    for i in 0..count {
        let dc = if i % 2 == 0 { "ams4" } else { "lhr1" };
        body.push_str(&format!(
            "{{\"timestamp\": {epoch}.{:03}, \"type\": \"WEB\", \"dc\": \"{dc}\", \"tag\": \"{tag}\", \"i\": {i}}}\n",
            i % 1000
        ));
    }
    body.into_bytes()
}

fn post(url: &str, query: &str, key: Option<&str>, body: &[u8]) -> Response {
    let mut request = client()
        .post(format!("{url}/v1/events{query}"))
        .header("content-type", NDJSON)
        .body(body.to_vec());
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().unwrap()
}

/// Status, the replay header, and the JSON answer.
fn answer(response: Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotency-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, response.json().unwrap())
}

/// Events committed for `epoch`, from the read API.
fn committed_events(url: &str, epoch: u64) -> u64 {
    let commits: Value = get_json(&format!("{url}/v1/commits?from={epoch}&to={epoch}"));
    commits["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["events"].as_u64().unwrap())
        .sum()
}

#[test]
fn an_idempotent_retry_gets_the_first_answer_marked_replayed_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = Proc::serve(dir.path(), &[]);
    let epoch = now() - 30;
    let body = events(epoch, 40, "a");

    let (status, header, first) = answer(post(&url, "?wait=commit", Some("batch-a"), &body));
    assert_eq!(status, 200, "{first}");
    assert_eq!(header, None, "a first answer is not a replay");
    assert_eq!(first["accepted"], 40);
    assert_eq!(first["replayed"], false);
    assert_eq!(first["commits"].as_array().unwrap().len(), 2, "{first}");

    // The retry (with the key quoted, as the IETF draft writes it).
    let (status, header, again) = answer(post(&url, "?wait=commit", Some("\"batch-a\""), &body));
    assert_eq!(status, 200, "{again}");
    assert_eq!(header.as_deref(), Some("true"));
    assert_eq!(again["replayed"], true);
    for field in [
        "accepted",
        "durable",
        "refused_too_old",
        "too_old",
        "commits",
    ] {
        assert_eq!(again[field], first[field], "{field}: {again} vs {first}");
    }
    // Without waiting: the same counts.
    let (status, header, plain) = answer(post(&url, "", Some("batch-a"), &body));
    assert_eq!((status, header.as_deref()), (200, Some("true")));
    assert_eq!(plain["accepted"], 40);

    // The same key for another batch: refused, nothing stored.
    let (status, _, reused) = answer(post(&url, "", Some("batch-a"), &events(epoch, 5, "b")));
    assert_eq!(status, 422, "{reused}");
    assert_eq!(reused["error"], "idempotency_key_reused");
    assert!(
        reused["message"].as_str().unwrap().contains("new key"),
        "the message says what to do: {reused}"
    );
    // A key that is not one.
    let (status, _, bad) = answer(post(&url, "", Some(&"k".repeat(129)), &body));
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("bad_idempotency_key"))
    );

    // A refused batch leaves its key free: the retry, fixed, is stored.
    let mut broken = events(epoch, 3, "c");
    broken.extend_from_slice(b"{\"timestamp\":\n");
    let (status, _, refused) = answer(post(&url, "", Some("batch-c"), &broken));
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("bad_batch"))
    );
    let (status, header, fixed) = answer(post(
        &url,
        "?wait=commit",
        Some("batch-c"),
        &events(epoch, 3, "c"),
    ));
    assert_eq!((status, header), (200, None), "{fixed}");
    assert_eq!(fixed["replayed"], false);

    assert_eq!(
        committed_events(&url, epoch),
        43,
        "batch a once, batch c once"
    );
    assert_eq!(
        metric(&url, "epochd_store_idempotent_replays_total"),
        Some(2.0)
    );
    assert_eq!(
        metric(&url, "epochd_store_events_accepted_total"),
        Some(43.0)
    );
}

#[test]
fn an_idempotent_retry_after_kill_9_right_after_the_acknowledgement_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let epoch = now() - 30;
    let body = events(epoch, 60, "k");
    // The first life holds every epoch open, so the batch is only in the
    // write-ahead log when the node dies.
    let (node, url) = Proc::serve(dir.path(), &["--grace-ms", "3600000"]);
    let (status, _, first) = answer(post(&url, "", Some("batch-k"), &body));
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["durable"], true);
    node.kill9();

    let (_node, url) = Proc::serve(dir.path(), &[]);
    let (status, header, again) = answer(post(&url, "?wait=commit", Some("batch-k"), &body));
    assert_eq!(status, 200, "{again}");
    assert_eq!(header.as_deref(), Some("true"), "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["accepted"], 60);
    let commits = again["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 2, "{again}");
    assert!(commits.iter().all(|c| c["epoch"] == epoch && c["seq"] == 0));
    assert_eq!(committed_events(&url, epoch), 60, "stored once");
    assert_eq!(
        metric(&url, "epochd_store_events_accepted_total"),
        Some(0.0)
    );
}

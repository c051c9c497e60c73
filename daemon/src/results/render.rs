//! Results as subscribers read them: one job's epoch (every dc and seq,
//! and their merge) as one JSON object, the same text for SSE, NDJSON,
//! range queries and the command line.
//!
//! What a job emitted reaches them byte for byte: a result (or a merge's
//! output) that is JSON text is embedded as it was emitted, never parsed
//! into numbers and maps and written again (which would sort its keys,
//! turn `1e2` into `100.0` and round integers above 2^53). The one change
//! is that line breaks, which valid JSON can only hold as whitespace
//! between tokens, are sent as spaces, because every event is one line.
//! Anything else (not UTF-8, not one JSON value) is sent as standard
//! base64 under `result_base64` (`merged_base64`). sdk/ABI.md, "What
//! subscribers receive", is the contract.

use std::borrow::Cow;

use base64::Engine;
use serde::Serialize;
use serde_json::value::RawValue;

use super::{JobLog, Outcome, ResultRecord};

/// One job's epoch rendered as a JSON object (text), shared by every
/// subscriber, range query and cache entry that needs it.
pub type Rendered = std::sync::Arc<str>;

/// A job's output bytes, as they go into a JSON object: the JSON text
/// itself, or base64.
enum Bytes {
    Json(Box<RawValue>),
    Base64(String),
}

impl Bytes {
    fn of(bytes: &[u8]) -> Bytes {
        let as_json = std::str::from_utf8(bytes).ok().and_then(|text| {
            // Valid JSON holds line breaks only between tokens: spaces there
            // mean the same.
            let one_line: Cow<str> = if text.contains(['\n', '\r']) {
                Cow::Owned(text.replace(['\n', '\r'], " "))
            } else {
                Cow::Borrowed(text)
            };
            serde_json::from_str::<Box<RawValue>>(&one_line).ok()
        });
        match as_json {
            Some(raw) => Bytes::Json(raw),
            None => Bytes::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    fn json(&self) -> Option<&RawValue> {
        match self {
            Bytes::Json(raw) => Some(raw),
            Bytes::Base64(_) => None,
        }
    }

    fn base64(&self) -> Option<&str> {
        match self {
            Bytes::Json(_) => None,
            Bytes::Base64(b) => Some(b),
        }
    }
}

/// The error of a failed run, as JSON.
#[derive(Serialize)]
struct ErrorJson<'a> {
    kind: &'a str,
    message: &'a str,
}

/// One record as JSON (`results[]` of an epoch object).
#[derive(Serialize)]
struct RecordJson<'a> {
    dc: &'a str,
    seq: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_base64: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorJson<'a>>,
    cpu_us: u64,
    wall_us: u64,
    stored_at_ms: u64,
    committed_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    logs: Option<&'a [JobLog]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logs_dropped: Option<u32>,
}

/// One record's JSON object; `result` is its result's bytes as they go
/// out (`None` for a failed run).
fn record_json<'a>(r: &'a ResultRecord, result: Option<&'a Bytes>) -> RecordJson<'a> {
    let error = match &r.outcome {
        Outcome::Ok { .. } => None,
        Outcome::Error { kind, message } => Some(ErrorJson {
            kind: kind.as_str(),
            message,
        }),
    };
    let has_logs = !r.logs.is_empty() || r.logs_dropped > 0;
    RecordJson {
        dc: &r.dc,
        seq: r.seq,
        status: if error.is_some() { "error" } else { "ok" },
        result: result.and_then(Bytes::json),
        result_base64: result.and_then(Bytes::base64),
        error,
        cpu_us: r.cpu_us,
        wall_us: r.wall_us,
        stored_at_ms: r.stored_at_ms,
        committed_at_ms: r.committed_at_ms,
        logs: has_logs.then_some(r.logs.as_slice()),
        logs_dropped: has_logs.then_some(r.logs_dropped),
    }
}

/// The epoch object.
#[derive(Serialize)]
struct EpochJson<'a> {
    job: &'a str,
    epoch: u64,
    results: Vec<RecordJson<'a>>,
    committed_at_ms: u64,
    /// `null` when the job has no merge, or the merge did not run.
    merged: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merged_base64: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merged_error: Option<&'a str>,
}

/// Renders one job's epoch: its records (in the order given: dc, then
/// seq) and what their merge gave, if the job has a merge.
pub fn epoch_json(
    job: &str,
    epoch: u64,
    records: &[ResultRecord],
    merged: Option<Result<Vec<u8>, String>>,
) -> Rendered {
    // Each result's bytes, checked once, then written in place.
    let results: Vec<Option<Bytes>> = records
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Ok { result } => Some(Bytes::of(result)),
            Outcome::Error { .. } => None,
        })
        .collect();
    let merged_bytes = match &merged {
        Some(Ok(bytes)) => Some(Bytes::of(bytes)),
        _ => None,
    };
    let json = EpochJson {
        job,
        epoch,
        results: records
            .iter()
            .zip(&results)
            .map(|(r, bytes)| record_json(r, bytes.as_ref()))
            .collect(),
        committed_at_ms: records.iter().map(|r| r.committed_at_ms).max().unwrap_or(0),
        merged: merged_bytes.as_ref().and_then(Bytes::json),
        merged_base64: merged_bytes.as_ref().and_then(Bytes::base64),
        merged_error: match &merged {
            Some(Err(e)) => Some(e),
            _ => None,
        },
    };
    serde_json::to_string(&json)
        .expect("an epoch serialises")
        .into()
}

/// `object` (JSON text of an object) with one more field first,
/// `"name":value` (a stream's `emitted_at_ms`, an NDJSON line's `type`),
/// without parsing it again: the rest stays byte for byte.
pub fn with_field(object: &str, name: &str, value: impl Serialize) -> String {
    let rest = object
        .trim_start()
        .strip_prefix('{')
        .expect("a rendering is a JSON object");
    let value = serde_json::to_string(&value).expect("a field serialises");
    let name = serde_json::to_string(name).expect("a name serialises");
    let sep = if rest.trim_start().starts_with('}') {
        ""
    } else {
        ","
    };
    format!("{{{name}:{value}{sep}{rest}")
}

/// A range answer: `{"job", "from", "to", "epochs": [...]}` with each
/// epoch's rendering put in as it is (range queries, and the command
/// line's `results get --json`, which joins several of them).
pub fn range_json<'e>(
    job: &str,
    from: u64,
    to: u64,
    epochs: impl IntoIterator<Item = &'e str>,
) -> String {
    let head = serde_json::json!({"job": job, "from": from, "to": to}).to_string();
    let epochs: Vec<&str> = epochs.into_iter().collect();
    let head = head.strip_suffix('}').expect("an object");
    format!("{head},\"epochs\":[{}]}}", epochs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(result: &[u8]) -> ResultRecord {
        ResultRecord::ok_for_test("j", 1, "ams4", result)
    }

    #[test]
    fn json_results_are_embedded_as_the_job_wrote_them() {
        let emitted = br#"{"z": 1e2, "a": 1.10, "big": 12345678901234567890123}"#;
        let text = epoch_json("j", 1, &[record(emitted)], None);
        assert!(
            text.contains(r#""result":{"z": 1e2, "a": 1.10, "big": 12345678901234567890123}"#),
            "{text}"
        );
    }

    #[test]
    fn line_breaks_between_tokens_become_spaces() {
        let text = epoch_json("j", 1, &[record(b"{\n  \"n\": 3\r\n}\n")], None);
        assert!(text.contains(r#""result":{   "n": 3  }"#), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn other_bytes_go_as_standard_base64() {
        let text = epoch_json("j", 1, &[record(&[0, 159, 146, 150])], None);
        assert!(text.contains(r#""result_base64":"AJ+Slg==""#), "{text}");
        assert!(!text.contains(r#""result":"#));
        // Two JSON values are not one.
        let text = epoch_json("j", 1, &[record(b"1 2")], None);
        assert!(text.contains(r#""result_base64":"MSAy""#), "{text}");
    }

    #[test]
    fn the_merge_is_embedded_the_same_way_or_its_error_said() {
        let ok = epoch_json("j", 1, &[record(b"1")], Some(Ok(b"1.50".to_vec())));
        assert!(ok.contains(r#""merged":1.50"#), "{ok}");
        let failed = epoch_json("j", 1, &[record(b"1")], Some(Err("no".into())));
        assert!(failed.contains(r#""merged":null"#), "{failed}");
        assert!(failed.contains(r#""merged_error":"no""#), "{failed}");
        let parsed: serde_json::Value = serde_json::from_str(&failed).unwrap();
        assert_eq!(parsed["results"][0]["result"], 1);
    }

    #[test]
    fn a_range_holds_the_epochs_as_rendered() {
        let range = range_json("j", 1, 2, [r#"{"epoch":1e0}"#, "{}"]);
        assert_eq!(
            range,
            r#"{"from":1,"job":"j","to":2,"epochs":[{"epoch":1e0},{}]}"#
        );
        assert_eq!(
            range_json("j", 1, 0, []),
            r#"{"from":1,"job":"j","to":0,"epochs":[]}"#
        );
    }

    #[test]
    fn a_field_is_added_first_and_the_rest_kept() {
        assert_eq!(with_field(r#"{"a":1e2}"#, "t", "x"), r#"{"t":"x","a":1e2}"#);
        assert_eq!(with_field("{}", "n", 2), r#"{"n":2}"#);
        assert_eq!(with_field("{ }", "n", 2), r#"{"n":2 }"#);
    }
}

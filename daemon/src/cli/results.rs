//! `epochd results get | tail` and `epochd job logs`: ranges of results,
//! and streams followed across drops and restarts with `Last-Event-ID`.
//!
//! With `--json`, what the node sent is printed as it came, byte for byte
//! what the job emitted (results::render); the other lines are summaries
//! for a person.

use std::time::Duration;

use reqwest::Method;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::args::{ClientArgs, ResultsCommand};
use super::client::{root_cause, Out, Remote};
use super::format::{epoch_line, line_width, num, str_or, utc};
use super::sse::SseParser;
use crate::clock::now_secs;
use crate::results::render::{range_json, with_field};

/// Most epochs the API returns per range query (docs/API.md, Results).
const MAX_RANGE_EPOCHS: u64 = 3600;

/// A stream that sent nothing, not even its keep-alive (every 15 s), for this
/// long is taken as dropped.
const STREAM_IDLE: Duration = Duration::from_secs(45);

/// The first wait before reconnecting a stream; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs `epochd results ...`.
pub async fn results(args: ClientArgs, command: ResultsCommand) -> anyhow::Result<()> {
    let remote = Remote::new(&args)?;
    match command {
        ResultsCommand::Get {
            job,
            from,
            to,
            json,
            cluster,
        } => {
            let path = results_path(&job, cluster);
            get(
                &remote,
                &path,
                &job,
                from,
                to.unwrap_or_else(now_secs),
                json,
            )
            .await
        }
        ResultsCommand::Tail {
            job,
            from,
            json,
            cluster,
        } => {
            let width = line_width();
            tail(
                &remote,
                &results_path(&job, cluster),
                &job,
                from,
                |kind, raw, data| {
                    vec![if json {
                        // As the node sent it, as an NDJSON stream writes it.
                        with_field(raw, "type", kind)
                    } else {
                        epoch_line(data, Some(kind == "late"), width)
                    }]
                },
            )
            .await
        }
    }
}

/// `job logs`: the lines of a range (`GET /v1/jobs/{name}/logs`), or with
/// `follow` those of each epoch's results as they stream in.
pub(super) async fn logs(
    remote: &Remote,
    job: &str,
    from: Option<u64>,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    if follow {
        return tail(
            remote,
            &results_path(job, false),
            job,
            from,
            |_, _, data| {
                log_lines_of_epoch(data)
                    .into_iter()
                    .map(|line| {
                        if json {
                            line.to_string()
                        } else {
                            log_line(&line)
                        }
                    })
                    .collect()
            },
        )
        .await;
    }
    let mut url = remote.url(&["v1", "jobs", job, "logs"]);
    if let Some(from) = from {
        url.query_pairs_mut()
            .append_pair("from", &from.to_string())
            .append_pair("to", &from.max(now_secs()).to_string());
    }
    let answer = remote.json(remote.request(Method::GET, url)).await?;
    let out = Out::new();
    if json {
        let _ = out.line(&serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let lines = answer["lines"].as_array().cloned().unwrap_or_default();
    if lines.is_empty() {
        let _ = out.line(&format!(
            "{job} logged nothing in epochs {}..={}",
            num(&answer["from"]),
            num(&answer["to"])
        ));
    }
    for line in &lines {
        if out.line(&log_line(line)).is_err() {
            return Ok(());
        }
    }
    if answer["dropped"].as_u64().unwrap_or(0) > 0 {
        let _ = out.line(&format!(
            "({} lines dropped past the per-run or per-job bounds)",
            answer["dropped"]
        ));
    }
    Ok(())
}

/// The log lines in one streamed epoch's results, as the logs route
/// writes them.
fn log_lines_of_epoch(data: &Value) -> Vec<Value> {
    let mut lines = Vec::new();
    for result in data["results"].as_array().into_iter().flatten() {
        for line in result["logs"].as_array().into_iter().flatten() {
            lines.push(json!({
                "epoch": data["epoch"], "dc": result["dc"], "seq": result["seq"],
                "run_failed": result["status"] == "error",
                "level": line["level"], "message": line["message"],
            }));
        }
    }
    lines
}

/// One log line for a person: `time epoch dc/seq level text`.
fn log_line(line: &Value) -> String {
    let epoch = line["epoch"].as_u64().unwrap_or_default();
    format!(
        "{} {epoch} {}/{} {:<5} {}{}",
        utc(epoch),
        str_or(&line["dc"], "?"),
        num(&line["seq"]),
        str_or(&line["level"], "?"),
        str_or(&line["message"], ""),
        if line["run_failed"] == true {
            "  (run failed)"
        } else {
            ""
        }
    )
}

/// A range answer, its epochs kept as the node wrote them.
#[derive(serde::Deserialize)]
struct Range {
    epochs: Vec<Box<RawValue>>,
}

/// Where a job's results are: this node's own, or (`cluster`) its
/// gateway's merge over the cluster's nodes.
fn results_path(job: &str, cluster: bool) -> Vec<&str> {
    if cluster {
        vec!["v1", "cluster", "jobs", job, "results"]
    } else {
        vec!["v1", "jobs", job, "results"]
    }
}

/// `results get`: the range in requests of at most [`MAX_RANGE_EPOCHS`],
/// from the results at `path` (see [`results_path`]). With `json`, one
/// document of the range's epochs as the node sent them.
async fn get(
    remote: &Remote,
    path: &[&str],
    job: &str,
    from: u64,
    to: u64,
    json: bool,
) -> anyhow::Result<()> {
    let out = Out::new();
    let width = line_width();
    let mut all = Vec::new();
    let mut next = from;
    loop {
        // A reversed range is sent as is: the API says what is wrong.
        let last = if next > to {
            to
        } else {
            to.min(next.saturating_add(MAX_RANGE_EPOCHS - 1))
        };
        let mut url = remote.url(path);
        url.query_pairs_mut()
            .append_pair("from", &next.to_string())
            .append_pair("to", &last.to_string());
        let answer: Range = remote.json_as(remote.request(Method::GET, url)).await?;
        if json {
            all.extend(answer.epochs);
        } else {
            for epoch in &answer.epochs {
                let epoch: Value = serde_json::from_str(epoch.get())?;
                if out.line(&epoch_line(&epoch, None, width)).is_err() {
                    return Ok(());
                }
            }
        }
        if last >= to {
            break;
        }
        next = last + 1;
    }
    if json {
        let _ = out.line(&range_json(job, from, to, all.iter().map(|e| e.get())));
    }
    Ok(())
}

/// Follows a job's results stream at `path` + `stream` (`results tail`,
/// `job logs --follow`): each `epoch`, `late` or (the gateway's)
/// `correction` event becomes the lines `render` makes of it (given its
/// type, its data as sent, and that data parsed); reconnects with
/// `Last-Event-ID` after a drop or an `end` event.
async fn tail(
    remote: &Remote,
    path: &[&str],
    job: &str,
    from: Option<u64>,
    mut render: impl FnMut(&str, &str, &Value) -> Vec<String>,
) -> anyhow::Result<()> {
    let out = Out::new();
    // Where to resume: after the last epoch printed, else from `from`.
    let mut last_id: Option<u64> = None;
    let mut resume_from = from;
    let mut backoff = FIRST_BACKOFF;
    let mut connected = false;
    loop {
        let mut url = remote.url(&[path, &["stream"]].concat());
        if let (None, Some(from)) = (last_id, resume_from) {
            url.query_pairs_mut().append_pair("from", &from.to_string());
        }
        let mut request = remote
            .request(Method::GET, url)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let mut response = match remote.send(request).await {
            Ok(r) => r,
            // A node that went away may come back: keep trying once the
            // stream has worked; a refusal (unknown job, token) is final.
            Err(e) if connected && e.is_transient() => {
                eprintln!(
                    "epochd: {e}; reconnecting in {:.1} s",
                    backoff.as_secs_f64()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if !connected {
            eprintln!(
                "epochd: following {job} at {} (Ctrl-C to stop)",
                remote.url(&[])
            );
        }
        connected = true;
        let mut parser = SseParser::default();
        let mut ended = false;
        let why = loop {
            let chunk = match tokio::time::timeout(STREAM_IDLE, response.chunk()).await {
                Err(_) => break format!("nothing received for {} s", STREAM_IDLE.as_secs()),
                Ok(Err(e)) => break format!("the connection failed: {}", root_cause(&e)),
                Ok(Ok(None)) => break "the node closed the stream".to_owned(),
                Ok(Ok(Some(chunk))) => chunk,
            };
            for event in parser.push(&chunk) {
                match event.event.as_str() {
                    "epoch" | "late" | "correction" => {
                        // Only an epoch moves the resume position.
                        let late = event.event != "epoch";
                        let data: Value = match serde_json::from_str(&event.data) {
                            Ok(v) => v,
                            Err(e) => {
                                eprintln!("epochd: skipping an event that is not JSON: {e}");
                                continue;
                            }
                        };
                        for line in render(&event.event, &event.data, &data) {
                            if out.line(&line).is_err() {
                                return Ok(());
                            }
                        }
                        if !late {
                            last_id = event
                                .id
                                .as_deref()
                                .and_then(|id| id.trim().parse().ok())
                                .or_else(|| data["epoch"].as_u64())
                                .or(last_id);
                            backoff = FIRST_BACKOFF;
                        }
                    }
                    "end" => {
                        let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
                        if let Some(from) = data["resume_from"].as_u64() {
                            resume_from = Some(from);
                            // `resume_from` is the next epoch needed.
                            if last_id.is_some_and(|id| id + 1 < from) {
                                last_id = Some(from - 1);
                            }
                        }
                        ended = true;
                        eprintln!(
                            "epochd: the node ended the stream ({}): resuming",
                            str_or(&data["reason"], "no reason given")
                        );
                    }
                    _ => {}
                }
            }
            if ended {
                break String::new();
            }
        };
        if !ended {
            eprintln!(
                "epochd: {why}; reconnecting in {:.1} s",
                backoff.as_secs_f64()
            );
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

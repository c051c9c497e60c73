//! The command-line client of a node's HTTP API (docs/API.md): `epochd job
//! submit | ls | show | rm | pause | resume` and `epochd results get | tail`.
//!
//! Errors the API answers (`{"error", "message"}`) become a [`RemoteError::Api`]
//! whose text is `<message> (<code>)`, so that `main` prints
//! `epochd: <message> (<code>)` and exits non-zero. `results tail` parses the
//! Server-Sent Events itself ([`SseParser`]) and reconnects with
//! `Last-Event-ID` when the connection drops or the node ends the stream.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde_json::{json, Map, Value};

use crate::cli::{ClientArgs, JobCommand, ResultsCommand, SubmitArgs};

/// Most epochs the API returns per range query (docs/API.md, Results).
const MAX_RANGE_EPOCHS: u64 = 3600;

/// A stream that sent nothing, not even its keep-alive (every 15 s), for this
/// long is taken as dropped.
const STREAM_IDLE: Duration = Duration::from_secs(45);

/// The first wait before reconnecting a stream; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a request to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The API refused the request with its JSON error.
    #[error("{message} ({code}){hint}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The machine-readable code, e.g. `no_such_job`.
        code: String,
        /// What was wrong and what to do.
        message: String,
        /// A line of advice of ours (tokens), or empty.
        hint: String,
    },
    /// Nothing answered at the URL.
    #[error(
        "cannot reach epochd at {url}: {cause}; check --url (or EPOCHD_URL) and that the node runs"
    )]
    Connect {
        /// The URL that failed.
        url: String,
        /// The underlying error, innermost.
        cause: String,
    },
    /// An answer that is not the API's (another server, a proxy...).
    #[error("{method} {url} answered HTTP {status}{body}: is --url an epochd node's API?")]
    Http {
        /// The request's method.
        method: Method,
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
        /// The start of the body, if any, prefixed with ": ".
        body: String,
    },
    /// The request failed midway.
    #[error("{method} {url} failed: {cause}")]
    Transport {
        /// The request's method.
        method: Method,
        /// The URL.
        url: String,
        /// The underlying error, innermost.
        cause: String,
    },
}

impl RemoteError {
    /// Whether trying again later may succeed (the node restarting, a
    /// dropped connection, a 5xx), as opposed to a refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Api { status, .. } | RemoteError::Http { status, .. } => {
                status.is_server_error()
            }
            RemoteError::Connect { .. } | RemoteError::Transport { .. } => true,
        }
    }
}

/// The innermost cause of an error ("Connection refused (os error 111)"
/// rather than reqwest's "error sending request").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// A node's API, as the command line reaches it.
pub struct Remote {
    base: Url,
    http: reqwest::Client,
    has_token: bool,
}

impl Remote {
    /// A client of the node at `args.url` with `args.token`.
    pub fn new(args: &ClientArgs) -> anyhow::Result<Remote> {
        let raw = args.url.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("http://{raw}")
        };
        let base = Url::parse(&with_scheme)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .with_context(|| {
                format!("--url {raw:?} is not an http URL: give the node's address, e.g. http://127.0.0.1:8790")
            })?;
        let token = args.token.as_deref().filter(|t| !t.is_empty());
        let http = reqwest::Client::builder()
            .default_headers(crate::client::auth_headers(token)?)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Remote {
            base,
            http,
            has_token: token.is_some(),
        })
    }

    /// The URL of the API path `segments` (each one percent-encoded).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends a request; a non-2xx answer becomes the matching [`RemoteError`].
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, RemoteError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| RemoteError::Transport {
            method: Method::GET,
            url: self.base.to_string(),
            cause: root_cause(&e),
        })?;
        let method = request.method().clone();
        let url = request.url().clone();
        let response = client.execute(request).await.map_err(|e| {
            if e.is_connect() {
                RemoteError::Connect {
                    url: url.to_string(),
                    cause: root_cause(&e),
                }
            } else {
                RemoteError::Transport {
                    method: method.clone(),
                    url: url.to_string(),
                    cause: root_cause(&e),
                }
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        let error: Option<(String, String)> =
            serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
                Some((
                    v.get("error")?.as_str()?.to_owned(),
                    v.get("message")?.as_str()?.to_owned(),
                ))
            });
        Err(match error {
            Some((code, message)) => {
                let hint = match status {
                    StatusCode::UNAUTHORIZED if !self.has_token => {
                        "\n  the node needs a token: pass --token or set EPOCHD_TOKEN"
                    }
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                        "\n  pass a token with that role with --token (or EPOCHD_TOKEN)"
                    }
                    _ => "",
                };
                RemoteError::Api {
                    status,
                    code,
                    message,
                    hint: hint.to_owned(),
                }
            }
            None => {
                let text = String::from_utf8_lossy(&body);
                let text = truncate(text.trim(), 200);
                RemoteError::Http {
                    method,
                    url: url.to_string(),
                    status,
                    body: if text.is_empty() {
                        String::new()
                    } else {
                        format!(": {text}")
                    },
                }
            }
        })
    }

    /// Sends a request and reads its JSON answer.
    async fn json(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let request = request.timeout(Duration::from_secs(120));
        let response = self.send(request).await?;
        let url = response.url().to_string();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("reading the answer of {url}: {}", root_cause(&e)))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{url} did not answer JSON: is --url an epochd node's API?"))
    }
}

/// Lines to stdout; a closed stdout (`| head`) ends the command quietly.
struct Out {
    out: std::io::Stdout,
}

/// Stdout was closed by its reader.
#[derive(Debug)]
struct Closed;

impl Out {
    fn new() -> Out {
        Out {
            out: std::io::stdout(),
        }
    }

    fn line(&self, text: &str) -> Result<(), Closed> {
        let mut out = self.out.lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|_| Closed)
    }
}

/// Runs `epochd job ...`.
pub async fn job(args: ClientArgs, command: JobCommand) -> anyhow::Result<()> {
    if let JobCommand::New(new) = &command {
        // Writes files; talks to no node.
        return crate::starter::new(new);
    }
    let remote = Remote::new(&args)?;
    if let JobCommand::Logs {
        name,
        from,
        follow,
        json,
    } = &command
    {
        return logs(&remote, name, *from, *follow, *json).await;
    }
    let out = Out::new();
    let lines: Vec<String> = match command {
        JobCommand::New(_) | JobCommand::Logs { .. } => unreachable!("handled above"),
        JobCommand::Submit(submit) => {
            let (manifest, wasm, file_name) = submission(&submit)?;
            let name = manifest["name"].as_str().unwrap_or_default().to_owned();
            let form = Form::new()
                .part(
                    "manifest",
                    Part::text(manifest.to_string()).mime_str("application/json")?,
                )
                .part(
                    "wasm",
                    Part::bytes(wasm)
                        .file_name(file_name)
                        .mime_str("application/wasm")?,
                );
            let job = remote
                .json(
                    remote
                        .request(Method::POST, remote.url(&["v1", "jobs"]))
                        .multipart(form),
                )
                .await?;
            let mut lines = vec![format!(
                "submitted job {name}: {}, on {} ({})",
                str_or(&job["state"], "running"),
                list_or(&job["manifest"]["dcs"], "every dc"),
                list_or(&job["manifest"]["types"], "every commit"),
            )];
            if job["backfill"].is_object() {
                lines.push(format!(
                    "  backfill {}: follow it with `epochd job show {name}`",
                    backfill_text(&job["backfill"])
                ));
            }
            lines.push(format!(
                "  its results, one line per second: epochd results tail {name}"
            ));
            lines
        }
        JobCommand::Ls { json } => {
            let list = remote
                .json(remote.request(Method::GET, remote.url(&["v1", "jobs"])))
                .await?;
            if json {
                vec![serde_json::to_string_pretty(&list)?]
            } else {
                let jobs = list["jobs"].as_array().cloned().unwrap_or_default();
                if jobs.is_empty() {
                    vec!["no jobs: submit one with `epochd job submit JOB.wasm`".to_owned()]
                } else {
                    jobs_table(&jobs)
                }
            }
        }
        JobCommand::Show { name, json } => {
            let job = remote
                .json(remote.request(Method::GET, remote.url(&["v1", "jobs", &name])))
                .await?;
            if json {
                vec![serde_json::to_string_pretty(&job)?]
            } else {
                job_block(&job)
            }
        }
        JobCommand::Rm { name } => {
            remote
                .send(
                    remote
                        .request(Method::DELETE, remote.url(&["v1", "jobs", &name]))
                        .timeout(Duration::from_secs(120)),
                )
                .await?;
            vec![format!(
                "deleted job {name}: it runs no more; its results stay readable for 24 h"
            )]
        }
        JobCommand::Pause { name } => {
            let job = remote
                .json(remote.request(Method::POST, remote.url(&["v1", "jobs", &name, "pause"])))
                .await?;
            vec![format!(
                "job {name}: {}",
                str_or(&job["state"], "paused").to_owned()
            )]
        }
        JobCommand::Resume { name } => {
            let job = remote
                .json(remote.request(Method::POST, remote.url(&["v1", "jobs", &name, "resume"])))
                .await?;
            vec![format!("job {name}: {}", str_or(&job["state"], "running"))]
        }
    };
    for line in lines {
        if out.line(&line).is_err() {
            break;
        }
    }
    Ok(())
}

/// The manifest (the file's, with the flags over it), the module's bytes and
/// its file name.
fn submission(args: &SubmitArgs) -> anyhow::Result<(Value, Vec<u8>, String)> {
    let wasm = std::fs::read(&args.wasm)
        .with_context(|| format!("cannot read the module {}", args.wasm.display()))?;
    let mut manifest: Map<String, Value> = match &args.manifest {
        Some(path) => {
            let text = std::fs::read(path)
                .with_context(|| format!("cannot read the manifest {}", path.display()))?;
            match serde_json::from_slice(&text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => anyhow::bail!(
                    "the manifest {} is not a JSON object (see docs/API.md, Jobs)",
                    path.display()
                ),
                Err(e) => anyhow::bail!(
                    "the manifest {} is not JSON: {e} (see docs/API.md, Jobs)",
                    path.display()
                ),
            }
        }
        None => Map::new(),
    };
    let stem = file_stem(&args.wasm);
    if let Some(name) = &args.name {
        manifest.insert("name".into(), json!(name));
    } else if !manifest.contains_key("name") {
        if stem.is_empty() {
            anyhow::bail!("the job needs a name: pass --name");
        }
        manifest.insert("name".into(), json!(stem));
    }
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            manifest.insert(key.to_owned(), value);
        }
    };
    set("dcs", args.dcs.as_ref().map(|v| json!(non_empty(v))));
    set("types", args.types.as_ref().map(|v| json!(non_empty(v))));
    set("cpu_share", args.cpu_share.map(|v| json!(v)));
    set("memory_mib", args.memory_mib.map(|v| json!(v)));
    set("deadline_ms", args.deadline_ms.map(|v| json!(v)));
    set("max_result_bytes", args.max_result_bytes.map(|v| json!(v)));
    set("config", args.config.as_ref().map(|v| json!(v)));
    if args.backfill_from.is_some() || args.backfill_to.is_some() {
        let mut backfill = match manifest.remove("backfill") {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        if let Some(from) = args.backfill_from {
            backfill.insert("from".into(), json!(from));
        }
        if let Some(to) = args.backfill_to {
            backfill.insert("to".into(), json!(to));
        }
        if !backfill.contains_key("from") {
            anyhow::bail!("--backfill-to needs --backfill-from (the first epoch to run over)");
        }
        manifest.insert("backfill".into(), Value::Object(backfill));
    }
    let file_name = args.wasm.file_name().map_or_else(
        || "job.wasm".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok((Value::Object(manifest), wasm, file_name))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `--dcs ""` means every dc: no empty names.
fn non_empty(list: &[String]) -> Vec<&str> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect()
}

fn str_or<'v>(v: &'v Value, default: &'v str) -> &'v str {
    v.as_str().unwrap_or(default)
}

fn list_or(v: &Value, empty: &str) -> String {
    match v.as_array() {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        _ => empty.to_owned(),
    }
}

/// A number, or `-` for null.
fn num(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        v => v.to_string(),
    }
}

fn backfill_text(b: &Value) -> String {
    format!(
        "{}..{}: {}/{} epochs, {}",
        num(&b["from"]),
        num(&b["to"]),
        num(&b["done"]),
        num(&b["total"]),
        str_or(&b["state"], "?")
    )
}

/// The jobs as a table with aligned columns.
fn jobs_table(jobs: &[Value]) -> Vec<String> {
    let mut rows = vec![[
        "NAME".to_owned(),
        "STATE".to_owned(),
        "RUNS".to_owned(),
        "ERRORS".to_owned(),
        "CPU S".to_owned(),
        "LAST EPOCH".to_owned(),
        "LAG".to_owned(),
        "WAITING".to_owned(),
        "QUEUED".to_owned(),
        "BEHIND S".to_owned(),
    ]];
    for job in jobs {
        let stats = &job["stats"];
        rows.push([
            str_or(&job["name"], "?").to_owned(),
            str_or(&job["state"], "?").to_owned(),
            num(&stats["runs"]),
            num(&stats["errors"]),
            stats["cpu_seconds"]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.3}")),
            num(&stats["last_epoch"]),
            num(&stats["lag_epochs"]),
            num(&stats["commits_waiting"]),
            num(&stats["runs_queued"]),
            stats["lag_seconds"]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}")),
        ]);
    }
    let mut widths = [0usize; 10];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                // Names and states to the left, numbers to the right.
                if i < 2 {
                    line.push_str(&format!("{cell:<w$}"));
                } else {
                    line.push_str(&format!("{cell:>w$}"));
                }
            }
            line.trim_end().to_owned()
        })
        .collect()
}

/// One job as a readable block.
fn job_block(job: &Value) -> Vec<String> {
    let m = &job["manifest"];
    let s = &job["stats"];
    let mut state = str_or(&job["state"], "?").to_owned();
    if let Some(reason) = job["paused_reason"].as_str() {
        state.push_str(&format!(" ({reason})"));
    }
    let mut rows: Vec<(&str, String)> = vec![
        ("name", str_or(&job["name"], "?").to_owned()),
        ("state", state),
        ("dcs", list_or(&m["dcs"], "every dc")),
        ("types", list_or(&m["types"], "every commit")),
        ("cpu share", num(&m["cpu_share"])),
        ("memory", format!("{} MiB", num(&m["memory_mib"]))),
        ("deadline", format!("{} ms", num(&m["deadline_ms"]))),
        (
            "max result",
            format!("{} bytes", num(&m["max_result_bytes"])),
        ),
    ];
    if let Some(config) = m["config"].as_str().filter(|c| !c.is_empty()) {
        rows.push(("config", truncate(&config.replace('\n', "\\n"), 200)));
    }
    rows.push((
        "merge",
        if job["exports_merge"].as_bool() == Some(true) {
            "exported (results of all dcs are merged per epoch)".to_owned()
        } else {
            "not exported (one result per dc)".to_owned()
        },
    ));
    rows.push(("runs", num(&s["runs"])));
    rows.push(("errors", num(&s["errors"])));
    if let Some(e) = s["last_error"].as_str() {
        rows.push(("last error", e.to_owned()));
    } else if !s["last_error"].is_null() {
        rows.push(("last error", compact(&s["last_error"], 200)));
    }
    rows.push((
        "cpu seconds",
        s["cpu_seconds"]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.3}")),
    ));
    rows.push((
        "last epoch",
        match s["last_epoch"].as_u64() {
            Some(e) => format!("{e} ({})", utc(e)),
            None => "- (no run yet)".to_owned(),
        },
    ));
    rows.push((
        "lag",
        match s["lag_epochs"].as_u64() {
            Some(l) => format!("{l} epochs"),
            None => "-".to_owned(),
        },
    ));
    rows.push((
        "waiting",
        format!(
            "{} commits received, not yet done",
            num(&s["commits_waiting"])
        ),
    ));
    rows.push((
        "queued",
        format!(
            "{} runs of this job, the oldest waiting {} s",
            num(&s["runs_queued"]),
            s["lag_seconds"]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |l| format!("{l:.1}"))
        ),
    ));
    rows.push((
        "results",
        format!(
            "{} bytes stored, {} refused by its quotas",
            num(&s["results_stored_bytes"]),
            num(&s["results_refused"])
        ),
    ));
    if job["backfill"].is_object() {
        rows.push(("backfill", backfill_text(&job["backfill"])));
    }
    rows.into_iter()
        .map(|(k, v)| format!("{k:<12} {v}"))
        .collect()
}

/// Runs `epochd results ...`.
pub async fn results(args: ClientArgs, command: ResultsCommand) -> anyhow::Result<()> {
    let remote = Remote::new(&args)?;
    match command {
        ResultsCommand::Get {
            job,
            from,
            to,
            json,
        } => get(&remote, &job, from, to.unwrap_or_else(now_secs), json).await,
        ResultsCommand::Tail { job, from, json } => {
            let width = line_width();
            tail(&remote, &job, from, |kind, data| {
                let late = kind == "late";
                vec![if json {
                    let mut data = data.clone();
                    if let Some(map) = data.as_object_mut() {
                        map.insert("type".into(), json!(kind));
                    }
                    data.to_string()
                } else {
                    epoch_line(data, Some(late), width)
                }]
            })
            .await
        }
    }
}

/// `job logs`: the lines of a range (`GET /v1/jobs/{name}/logs`), or with
/// `follow` those of each epoch's results as they stream in.
async fn logs(
    remote: &Remote,
    job: &str,
    from: Option<u64>,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    if follow {
        return tail(remote, job, from, |_, data| {
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
        })
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

/// `results get`: the range in requests of at most [`MAX_RANGE_EPOCHS`].
async fn get(remote: &Remote, job: &str, from: u64, to: u64, json: bool) -> anyhow::Result<()> {
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
        let mut url = remote.url(&["v1", "jobs", job, "results"]);
        url.query_pairs_mut()
            .append_pair("from", &next.to_string())
            .append_pair("to", &last.to_string());
        let answer = remote.json(remote.request(Method::GET, url)).await?;
        let epochs = answer["epochs"].as_array().cloned().unwrap_or_default();
        if json {
            all.extend(epochs);
        } else {
            for epoch in &epochs {
                if out.line(&epoch_line(epoch, None, width)).is_err() {
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
        let answer = json!({"job": job, "from": from, "to": to, "epochs": all});
        let _ = out.line(&serde_json::to_string_pretty(&answer)?);
    }
    Ok(())
}

/// Follows a job's results stream (`results tail`, `job logs --follow`):
/// each `epoch` or `late` event becomes the lines `render` makes of it;
/// reconnects with `Last-Event-ID` after a drop or an `end` event.
async fn tail(
    remote: &Remote,
    job: &str,
    from: Option<u64>,
    mut render: impl FnMut(&str, &Value) -> Vec<String>,
) -> anyhow::Result<()> {
    let out = Out::new();
    // Where to resume: after the last epoch printed, else from `from`.
    let mut last_id: Option<u64> = None;
    let mut resume_from = from;
    let mut backoff = FIRST_BACKOFF;
    let mut connected = false;
    loop {
        let mut url = remote.url(&["v1", "jobs", job, "results", "stream"]);
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
                    "epoch" | "late" => {
                        let late = event.event == "late";
                        let data: Value = match serde_json::from_str(&event.data) {
                            Ok(v) => v,
                            Err(e) => {
                                eprintln!("epochd: skipping an event that is not JSON: {e}");
                                continue;
                            }
                        };
                        for line in render(&event.event, &data) {
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

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (default `message`).
    pub event: String,
    /// The `data:` lines, joined with newlines.
    pub data: String,
    /// The event's own `id:`, if it has one.
    pub id: Option<String>,
}

/// An incremental parser of `text/event-stream` (the WHATWG rules: lines end
/// with LF, CRLF or CR; a blank line dispatches; `:` starts a comment; one
/// space after the colon is dropped; an event without data is not dispatched).
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
    after_cr: bool,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            // The LF of a CRLF whose CR already ended the line.
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            if b == b'\n' || b == b'\r' {
                self.after_cr = b == b'\r';
                let line = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                if let Some(event) = self.line(&line) {
                    events.push(event);
                }
            } else {
                self.pending.push(b);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            let id = self.id.take();
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            return Some(SseEvent {
                event: if event.is_empty() {
                    "message".to_owned()
                } else {
                    event
                },
                data,
                id,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

use crate::clock::{now_ms, now_secs};

/// Characters per printed line: `COLUMNS` (first-run exports it), else 160
/// on a terminal, else 1000 (a pipe: a longer line, still one per epoch).
fn line_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|&c| c >= 40)
        .unwrap_or(if std::io::stdout().is_terminal() {
            160
        } else {
            1000
        })
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// One epoch's results as one line: epoch, time (of day for streams), (for streams) how long
/// after the second ended they left the node, then the merged result, else
/// each dc's. `late` is None for range queries.
pub fn epoch_line(epoch: &Value, late: Option<bool>, width: usize) -> String {
    let e = epoch["epoch"].as_u64().unwrap_or_default();
    let time = utc(e);
    // A live stream is about now: the time of day is enough.
    let time = if late.is_some() { &time[11..] } else { &time };
    let mut line = format!("{e}  {time}");
    if late.is_some() {
        let end_ms = (e + 1) * 1000;
        let at = epoch["emitted_at_ms"].as_u64().unwrap_or_else(now_ms);
        line.push_str(&format!(
            "  +{:.1}s",
            at.saturating_sub(end_ms) as f64 / 1000.0
        ));
    }
    line.push_str("  ");
    if late == Some(true) {
        line.push_str("late ");
    }
    let results = epoch["results"].as_array().cloned().unwrap_or_default();
    let rest = width.saturating_sub(line.chars().count()).max(20);
    if late != Some(true) && !epoch["merged"].is_null() {
        line.push_str(&format!(
            "merged({}) {}",
            results.len(),
            compact(&epoch["merged"], rest)
        ));
    } else {
        let mut parts = Vec::new();
        if let Some(error) = epoch["merged_error"].as_str() {
            parts.push(format!("merge failed: {error}"));
        }
        for r in &results {
            let mut who = str_or(&r["dc"], "?").to_owned();
            if let Some(seq) = r["seq"].as_u64().filter(|&s| s > 0) {
                who.push_str(&format!("#{seq}"));
            }
            let what = if str_or(&r["status"], "ok") == "ok" {
                if !r["result"].is_null() {
                    compact(&r["result"], rest)
                } else if let Some(b64) = r["result_base64"].as_str() {
                    format!("base64:{}", truncate(b64, 24))
                } else {
                    "(empty)".to_owned()
                }
            } else {
                format!(
                    "error {}: {}",
                    str_or(&r["error"]["kind"], "?"),
                    str_or(&r["error"]["message"], "")
                )
            };
            parts.push(format!("{who} {what}"));
        }
        if parts.is_empty() {
            parts.push("(no results)".to_owned());
        }
        line.push_str(&parts.join(" | "));
    }
    truncate(&line, width)
}

/// A JSON value in few characters: keys and simple strings unquoted,
/// scalars before nested values (the counts before the details), long
/// arrays of numbers and objects nested deeper than three levels elided,
/// the whole cut at `max` characters.
pub fn compact(v: &Value, max: usize) -> String {
    let mut out = String::new();
    write_compact(v, 0, &mut out, max + 1);
    truncate(&out, max)
}

fn write_compact(v: &Value, depth: usize, out: &mut String, budget: usize) {
    if out.len() > budget {
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
            if plain {
                out.push_str(s);
            } else {
                out.push_str(&Value::String(s.clone()).to_string());
            }
        }
        Value::Array(items) => {
            if items.len() > 16 && items.iter().all(Value::is_number) {
                out.push_str(&format!("[…{} numbers]", items.len()));
                return;
            }
            if depth >= 3 && !items.is_empty() {
                out.push_str(&format!("[…{}]", items.len()));
                return;
            }
            if let Some(keys) = uniform_keys(items) {
                // Rows of one shape with one number each (counts by key):
                // the largest first, so a cut line still shows the top.
                if let Some(number) = sole_numeric_key(items, &keys) {
                    let mut rows: Vec<&Value> = items.iter().collect();
                    rows.sort_by(|a, b| {
                        let n = |v: &Value| v[number].as_f64().unwrap_or(f64::MIN);
                        n(b).total_cmp(&n(a))
                    });
                    out.push_str(&format!("[{} rows, top by {number}: ", rows.len()));
                    for (i, item) in rows.iter().enumerate() {
                        if i > 0 {
                            out.push_str("; ");
                        }
                        write_compact(&item[number], depth + 1, out, budget);
                        for key in keys.iter().filter(|k| **k != number) {
                            out.push(' ');
                            write_compact(&item[*key], depth + 1, out, budget);
                        }
                        if out.len() > budget {
                            return;
                        }
                    }
                    out.push(']');
                    return;
                }
                // Rows of one shape: the keys once, then the values.
                out.push_str(&format!("[({}) ", keys.join(",")));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str("; ");
                    }
                    for (j, key) in keys.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        write_compact(&item[*key], depth + 1, out, budget);
                    }
                    if out.len() > budget {
                        return;
                    }
                }
                out.push(']');
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_compact(item, depth + 1, out, budget);
                if out.len() > budget {
                    return;
                }
            }
            out.push(']');
        }
        Value::Object(map) => {
            if depth >= 3 && !map.is_empty() {
                out.push_str("{…}");
                return;
            }
            out.push('{');
            let simple = |v: &Value| !(v.is_object() || v.is_array());
            let ordered = map
                .iter()
                .filter(|(_, v)| simple(v))
                .chain(map.iter().filter(|(_, v)| !simple(v)));
            for (i, (k, item)) in ordered.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push(':');
                write_compact(item, depth + 1, out, budget);
                if out.len() > budget {
                    return;
                }
            }
            out.push('}');
        }
    }
}

/// The keys shared by every item, when there are at least two items, each
/// an object of those keys only, with scalar values.
fn uniform_keys(items: &[Value]) -> Option<Vec<&str>> {
    let first = items.first()?.as_object()?;
    if items.len() < 2 || first.is_empty() {
        return None;
    }
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    items
        .iter()
        .all(|item| {
            item.as_object().is_some_and(|map| {
                map.len() == keys.len()
                    && keys.iter().all(|k| {
                        map.get(*k)
                            .is_some_and(|v| !(v.is_object() || v.is_array()))
                    })
            })
        })
        .then_some(keys)
}

/// The one key whose value is a number in every row, if exactly one is.
fn sole_numeric_key<'k>(items: &[Value], keys: &[&'k str]) -> Option<&'k str> {
    let mut numeric = keys
        .iter()
        .filter(|k| items.iter().all(|item| item[**k].is_number()));
    let first = numeric.next()?;
    numeric.next().is_none().then_some(*first)
}

/// At most `max` characters, the last one `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_anywhere_and_any_line_ending() {
        let text = "id: 7\r\nevent: epoch\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\nevent: late\ndata: x\ndata:y\n\nevent: end\rdata: {}\r\r";
        // Every split point gives the same events.
        for split in 0..text.len() {
            let mut p = SseParser::default();
            let mut events = p.push(&text.as_bytes()[..split]);
            events.extend(p.push(&text.as_bytes()[split..]));
            assert_eq!(
                events,
                vec![
                    SseEvent {
                        event: "epoch".into(),
                        data: "{\"a\":1}".into(),
                        id: Some("7".into())
                    },
                    SseEvent {
                        event: "late".into(),
                        data: "x\ny".into(),
                        id: None
                    },
                    SseEvent {
                        event: "end".into(),
                        data: "{}".into(),
                        id: None
                    },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let mut p = SseParser::default();
        assert!(p.push(b"event: epoch\nid: 3\n\n").is_empty());
        let events = p.push(b"data: 1\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "message");
        assert_eq!(events[0].id, None);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_763_800_123), "2025-11-22T08:28:43Z");
    }

    #[test]
    fn compact_puts_scalars_first_and_elides_bulk() {
        // Counts by key: the largest first, so a line cut short shows them.
        let rows = json!({"counts": [{"type": "WEB", "count": 3}, {"count": 4, "type": "AV"}]});
        assert_eq!(
            compact(&rows, 1000),
            "{counts:[2 rows, top by count: 4 AV; 3 WEB]}"
        );
        // Two numbers a row: the keys once, the rows as they come.
        let pairs = json!([{"a": 1, "b": 2}, {"a": 3, "b": 4}]);
        assert_eq!(compact(&pairs, 1000), "[(a,b) 1,2; 3,4]");
        let v = json!({"counts": [{"type": "WEB", "count": 3}], "events": 300,
                       "h": {"a": {"b": {"c": 1}}}, "n": (0..40).collect::<Vec<_>>(),
                       "s": "two words"});
        assert_eq!(
            compact(&v, 1000),
            "{events:300,s:\"two words\",counts:[{count:3,type:WEB}],h:{a:{b:{…}}},n:[…40 numbers]}"
        );
        let cut = compact(&v, 20);
        assert_eq!(cut.chars().count(), 20);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn an_epoch_line_shows_the_merge_else_each_dc() {
        let merged = json!({"epoch": 1_763_800_123u64, "merged": {"events": 5},
            "results": [{"dc": "ams4", "seq": 0, "status": "ok", "result": {"events": 5}}],
            "emitted_at_ms": 1_763_800_125_500u64});
        assert_eq!(
            epoch_line(&merged, Some(false), 200),
            "1763800123  08:28:43Z  +1.5s  merged(1) {events:5}"
        );
        let per_dc = json!({"epoch": 1_763_800_123u64, "merged": null,
            "results": [{"dc": "ams4", "seq": 1, "status": "ok", "result": [1]},
                        {"dc": "lhr1", "seq": 0, "status": "error",
                         "error": {"kind": "deadline", "message": "too slow"}}]});
        assert_eq!(
            epoch_line(&per_dc, None, 200),
            "1763800123  2025-11-22T08:28:43Z  ams4#1 [1] | lhr1 error deadline: too slow"
        );
    }

    #[test]
    fn epochs_on_the_command_line() {
        assert_eq!(crate::cli::parse_epoch("1763800000"), Ok(1_763_800_000));
        let now = now_secs();
        assert!(crate::cli::parse_epoch("now").unwrap() >= now);
        assert!(crate::cli::parse_epoch("now-60").unwrap() + 60 >= now);
        assert!(crate::cli::parse_epoch("yesterday").is_err());
    }
}

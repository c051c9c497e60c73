//! `epochd job submit | ls | show | logs | rm | pause | resume | new`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::args::{ClientArgs, JobCommand, SubmitArgs};
use super::client::{Out, Remote};
use super::format::{compact, list_or, num, str_or, table, truncate, utc};
use super::results::logs;

/// Runs `epochd job ...`.
pub async fn job(args: ClientArgs, command: JobCommand) -> anyhow::Result<()> {
    if let JobCommand::New(new) = &command {
        // Writes files; talks to no node.
        return super::starter::new(new);
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

fn backfill_text(b: &Value) -> String {
    let error = match b["error"].as_str() {
        Some(e) => format!(": {e}"),
        None => String::new(),
    };
    format!(
        "{}..{}: {}/{} epochs, {}{error}",
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
    table(&rows, 2)
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

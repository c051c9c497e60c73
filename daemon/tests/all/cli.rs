//! The command-line client (`epochd job ...`, `epochd results ...`) against
//! a real node: real processes, real HTTP on loopback, the real wasm jobs of
//! wasm-jobs/out.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

/// A job module built by wasm-jobs/build.
fn wasm_path(name: &str) -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../wasm-jobs/out/{name}.wasm"));
    assert!(
        path.exists(),
        "{}: build the jobs first with wasm-jobs/build (scripts/test does)",
        path.display()
    );
    path
}

/// A node with demo traffic (300 events per second over four dcs).
fn serve(dir: &Path, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["--demo-rate", "300"];
    args.extend_from_slice(extra);
    Proc::serve(dir, &args)
}

/// The CLI as a command for `url`, with `token` (none taken from the
/// environment of the test).
fn cli(url: &str, token: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_epochd"));
    command
        .args(args)
        .env_remove("EPOCHD_TOKEN")
        .env("EPOCHD_URL", url)
        .env("EPOCHD_LOG", "warn");
    if let Some(token) = token {
        command.env("EPOCHD_TOKEN", token);
    }
    command
}

/// What one CLI run printed.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

fn run(url: &str, token: Option<&str>, args: &[&str]) -> Run {
    let out = cli(url, token, args).output().unwrap();
    Run {
        success: out.status.success(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs the CLI, asserts it succeeded, returns its stdout.
#[track_caller]
fn ok(url: &str, token: Option<&str>, args: &[&str]) -> String {
    let r = run(url, token, args);
    assert!(
        r.success,
        "epochd {args:?} failed:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r.stdout
}

/// Runs the CLI, asserts it failed with `epochd: ...` on stderr, returns stderr.
#[track_caller]
fn fails(url: &str, token: Option<&str>, args: &[&str]) -> String {
    let r = run(url, token, args);
    assert!(
        !r.success,
        "epochd {args:?} succeeded:\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    assert!(
        r.stderr.starts_with("epochd: "),
        "unexpected stderr {:?}",
        r.stderr
    );
    r.stderr
}

fn show_json(url: &str, token: Option<&str>, name: &str) -> Value {
    serde_json::from_str(&ok(url, token, &["job", "show", name, "--json"])).unwrap()
}

/// Waits until the job has run on at least `epochs` distinct epochs' commits
/// after `after` (its stats), returns the job.
fn wait_runs(url: &str, name: &str, after: u64, secs: u64) -> Value {
    let mut job = Value::Null;
    wait_until(secs, &format!("{name} to run"), || {
        job = show_json(url, None, name);
        job["stats"]["runs"].as_u64().unwrap() > after
    });
    job
}

/// The epoch a line of `results get` / `results tail` starts with.
fn epoch_of(line: &str) -> u64 {
    line.split_whitespace()
        .next()
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("a result line that does not start with its epoch: {line:?}"))
}

/// `epochd results tail` as a child, its stdout lines on a channel.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Tail {
    fn start(url: &str, token: Option<&str>, args: &[&str], stderr: PathBuf) -> Tail {
        let mut child = cli(url, token, args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Tail {
            child,
            lines,
            stderr,
        }
    }

    /// The next line of an `epoch` event (`late` lines are skipped: at a
    /// node's start the first epoch may go out before every dc is known,
    /// and the others' results follow as `late`).
    #[track_caller]
    fn epoch_line(&self, secs: u64) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.line(left.as_secs().max(1));
            if !line.contains("  late ") {
                return line;
            }
        }
    }

    #[track_caller]
    fn line(&self, secs: u64) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(secs))
            .unwrap_or_else(|_| {
                panic!(
                    "results tail printed no line within {secs} s; its stderr: {}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                )
            })
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cli_submits_lists_shows_and_reads_results() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = serve(dir.path(), &[]);
    assert!(ok(&url, None, &["job", "ls"]).contains("no jobs"));

    let count = wasm_path("count");
    let out = ok(&url, None, &["job", "submit", count.to_str().unwrap()]);
    assert!(out.contains("submitted job count"), "{out}");
    assert!(out.contains("epochd results tail count"), "{out}");

    // Flags set the manifest's fields, over a manifest file's.
    let manifest = dir.path().join("lat.json");
    std::fs::write(
        &manifest,
        r#"{"name": "lat-file", "cpu_share": 0.2, "types": ["AV"], "config": "from the file"}"#,
    )
    .unwrap();
    let latency = wasm_path("latency");
    ok(
        &url,
        None,
        &[
            "job",
            "submit",
            latency.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--types",
            "WEB",
            "--dcs",
            "ams4,lhr4",
            "--deadline-ms",
            "500",
            "--memory-mib",
            "32",
            "--max-result-bytes",
            "32768",
        ],
    );
    let lat = show_json(&url, None, "lat-file");
    let m = &lat["manifest"];
    assert_eq!(m["name"], "lat-file");
    assert_eq!(m["cpu_share"], 0.2);
    assert_eq!(m["types"], serde_json::json!(["WEB"]));
    assert_eq!(m["dcs"], serde_json::json!(["ams4", "lhr4"]));
    assert_eq!(m["deadline_ms"], 500);
    assert_eq!(m["memory_mib"], 32);
    assert_eq!(m["max_result_bytes"], 32768);
    assert_eq!(m["config"], "from the file");
    ok(
        &url,
        None,
        &[
            "job",
            "submit",
            latency.to_str().unwrap(),
            "--name",
            "lat2",
            "--config",
            "a flag",
            "--cpu-share",
            "0.5",
        ],
    );
    let lat2 = show_json(&url, None, "lat2");
    assert_eq!(lat2["manifest"]["config"], "a flag");
    assert_eq!(lat2["manifest"]["cpu_share"], 0.5);

    // The table: a header and one row per job, by name.
    let table = ok(&url, None, &["job", "ls"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("NAME") && lines[0].contains("LAG"));
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..2], ["count", "running"], "{table}");

    // Stats once results arrive, in the readable block and in the table.
    let job = wait_runs(&url, "count", 8, 20);
    let last = job["stats"]["last_epoch"].as_u64().unwrap();
    let block = ok(&url, None, &["job", "show", "count"]);
    assert!(block.contains("state        running"), "{block}");
    let runs_line = block.lines().find(|l| l.starts_with("runs")).unwrap();
    let runs: u64 = runs_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(runs >= 8, "{block}");
    assert!(block.contains("last epoch"), "{block}");
    let table = ok(&url, None, &["job", "ls"]);
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("count "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(row[2].parse::<u64>().unwrap() >= runs, "{table}");
    assert!(row[5].parse::<u64>().unwrap() >= last, "{table}");

    // Range queries: the JSON, and one line per stored epoch with its merge.
    let from = (last - 5).to_string();
    let to = last.to_string();
    let raw: Value = serde_json::from_str(&ok(
        &url,
        None,
        &[
            "results", "get", "count", "--from", &from, "--to", &to, "--json",
        ],
    ))
    .unwrap();
    let epochs = raw["epochs"].as_array().unwrap();
    assert!(epochs.len() >= 2, "{raw}");
    assert!(epochs.iter().any(|e| e["epoch"] == last), "{raw}");
    let text = ok(
        &url,
        None,
        &["results", "get", "count", "--from", &from, "--to", &to],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), epochs.len(), "{text}");
    for (line, epoch) in lines.iter().zip(epochs) {
        assert_eq!(epoch_of(line), epoch["epoch"].as_u64().unwrap());
        let events = &epoch["merged"]["events"];
        assert!(events.as_u64().unwrap() > 0, "{epoch}");
        assert!(line.contains(&format!("events:{events}")), "{line}");
        assert!(line.contains("merged("), "{line}");
    }
}

#[test]
fn cli_tail_prints_one_line_per_consecutive_epoch_and_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let listen = format!("127.0.0.1:{}", free_port());
    let args = [
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        &listen,
        "--demo-rate",
        "300",
        "--no-cgroups",
    ];
    let (node, url) = Proc::node(&args, &log);
    let count = wasm_path("count");
    ok(&url, None, &["job", "submit", count.to_str().unwrap()]);
    // Past the node's first epochs, when the dcs are all known.
    wait_runs(&url, "count", 8, 15);

    let tail = Tail::start(
        &url,
        None,
        &["results", "tail", "count"],
        dir.path().join("tail.err"),
    );
    let first: Vec<String> = (0..3).map(|_| tail.epoch_line(15)).collect();
    let epochs: Vec<u64> = first.iter().map(|l| epoch_of(l)).collect();
    assert_eq!(
        epochs,
        [epochs[0], epochs[0] + 1, epochs[0] + 2],
        "{first:?}"
    );
    for line in &first {
        // The epoch's time, its delay, and the merged counts of the four dcs.
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[1].len(), "20:42:30Z".len(), "{line}");
        assert!(
            fields[1].ends_with('Z') && fields[2].starts_with('+'),
            "{line}"
        );
        let dcs = line
            .split("merged(")
            .nth(1)
            .and_then(|r| r.split(')').next());
        assert!(matches!(dcs, Some("1" | "2" | "3" | "4")), "{line}");
        assert!(line.contains(") {events:"), "{line}");
    }

    // The node dies and comes back on the same address: the tail reconnects
    // by itself and goes on after the last epoch it printed. (kill -9: a
    // SIGTERM would wait for the open stream to end.)
    node.kill9();
    std::thread::sleep(Duration::from_millis(500));
    let (_node, _) = Proc::node(&args, &log);
    let mut seen = epochs.clone();
    while seen.len() < 7 {
        seen.push(epoch_of(&tail.epoch_line(20)));
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "epochs repeated or out of order across the restart: {seen:?}"
    );
    let stderr = std::fs::read_to_string(&tail.stderr).unwrap();
    assert!(stderr.contains("reconnecting"), "{stderr}");
    drop(tail);

    // From a past epoch: the stored ones first, in order, then live.
    let start = epochs[1].to_string();
    let tail = Tail::start(
        &url,
        None,
        &["results", "tail", "count", "--from", &start],
        dir.path().join("tail2.err"),
    );
    let replay: Vec<u64> = (0..3).map(|_| epoch_of(&tail.epoch_line(15))).collect();
    assert_eq!(replay, [epochs[1], epochs[2], epochs[2] + 1]);
}

#[test]
fn cli_pauses_resumes_and_removes_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = serve(dir.path(), &[]);
    let count = wasm_path("count");
    ok(&url, None, &["job", "submit", count.to_str().unwrap()]);
    wait_runs(&url, "count", 0, 15);

    assert_eq!(
        ok(&url, None, &["job", "pause", "count"]).trim(),
        "job count: paused"
    );
    let block = ok(&url, None, &["job", "show", "count"]);
    assert!(
        block.contains("state        paused (paused by an operator)"),
        "{block}"
    );
    assert!(ok(&url, None, &["job", "ls"])
        .lines()
        .any(|l| l.starts_with("count ") && l.contains(" paused ")));
    // A paused job runs no more (give a commit in flight time to finish).
    std::thread::sleep(Duration::from_millis(1500));
    let runs = show_json(&url, None, "count")["stats"]["runs"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        show_json(&url, None, "count")["stats"]["runs"]
            .as_u64()
            .unwrap(),
        runs
    );

    assert_eq!(
        ok(&url, None, &["job", "resume", "count"]).trim(),
        "job count: running"
    );
    let job = wait_runs(&url, "count", runs, 15);
    assert_eq!(job["state"], "running");
    let last = job["stats"]["last_epoch"].as_u64().unwrap();

    let out = ok(&url, None, &["job", "rm", "count"]);
    assert!(out.starts_with("deleted job count"), "{out}");
    assert!(ok(&url, None, &["job", "ls"]).contains("no jobs"));
    let err = fails(&url, None, &["job", "show", "count"]);
    assert!(err.contains("(no_such_job)"), "{err}");
    // Its results stay readable.
    let text = ok(
        &url,
        None,
        &[
            "results",
            "get",
            "count",
            "--from",
            &last.to_string(),
            "--to",
            &last.to_string(),
        ],
    );
    assert_eq!(text.lines().map(epoch_of).collect::<Vec<_>>(), [last]);
}

#[test]
fn cli_errors_exit_non_zero_with_the_api_message() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = serve(dir.path(), &[]);

    let not_wasm = dir.path().join("notes.wasm");
    std::fs::write(&not_wasm, "just some text").unwrap();
    let err = fails(&url, None, &["job", "submit", not_wasm.to_str().unwrap()]);
    assert!(err.contains("(not_wasm)"), "{err}");

    let err = fails(&url, None, &["job", "show", "nope"]);
    assert!(
        err.starts_with("epochd: ") && err.contains("nope") && err.contains("(no_such_job)"),
        "{err}"
    );
    let err = fails(&url, None, &["results", "tail", "nope"]);
    assert!(err.contains("(no_such_job)"), "{err}");

    let count = wasm_path("count");
    let err = fails(
        &url,
        None,
        &["job", "submit", count.to_str().unwrap(), "--cpu-share", "5"],
    );
    assert!(
        err.contains("(bad_manifest)") && err.contains("cpu_share"),
        "{err}"
    );
    ok(&url, None, &["job", "submit", count.to_str().unwrap()]);
    let err = fails(&url, None, &["job", "submit", count.to_str().unwrap()]);
    assert!(err.contains("(job_exists)"), "{err}");
    let err = fails(
        &url,
        None,
        &["results", "get", "count", "--from", "20", "--to", "10"],
    );
    assert!(err.contains("(bad_query)"), "{err}");

    // Nothing listening: the URL and what to check.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let err = fails(&nowhere, None, &["job", "ls"]);
    assert!(err.contains(&nowhere) && err.contains("--url"), "{err}");
    // Not a file: said before anything is sent.
    let err = fails(&url, None, &["job", "submit", "/nonexistent/x.wasm"]);
    assert!(err.contains("/nonexistent/x.wasm"), "{err}");
}

#[test]
fn cli_read_token_lists_jobs_but_cannot_submit() {
    let admin = "admin-token-0123456789";
    let read = "read-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = serve(dir.path(), &["--admin-token", admin, "--read-token", read]);
    let count = wasm_path("count");
    let submit = ["job", "submit", count.to_str().unwrap()];

    let err = fails(&url, Some(read), &submit);
    assert!(
        err.contains("admin token") && err.contains("(forbidden)"),
        "{err}"
    );
    let err = fails(&url, None, &["job", "ls"]);
    assert!(
        err.contains("(unauthorized)") && err.contains("--token"),
        "{err}"
    );
    let err = fails(&url, Some("not-a-token-of-this-node"), &["job", "ls"]);
    assert!(err.contains("(unauthorized)"), "{err}");

    // --token as a flag, over the environment's.
    let mut args = submit.to_vec();
    args.extend(["--token", admin]);
    ok(&url, Some(read), &args);
    let table = ok(&url, Some(read), &["job", "ls"]);
    assert!(table.lines().any(|l| l.starts_with("count ")), "{table}");
    let err = fails(&url, Some(read), &["job", "rm", "count"]);
    assert!(err.contains("(forbidden)"), "{err}");
    let tail = Tail::start(
        &url,
        Some(read),
        &["results", "tail", "count"],
        dir.path().join("tail.err"),
    );
    let (la, lb) = (tail.epoch_line(15), tail.epoch_line(5));
    let (a, b) = (epoch_of(&la), epoch_of(&lb));
    assert_eq!(b, a + 1, "{la}\n{lb}");
}

/// Regression: a job's `log` lines reached neither its results, nor the API,
/// nor the node log. They are kept with each run, read with `job logs` (and
/// `GET /v1/jobs/{name}/logs`), and a failed run's error quotes them.
#[test]
fn cli_job_logs_prints_what_a_job_logged_and_a_failed_runs_error_quotes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = serve(dir.path(), &[]);
    for (name, fail) in [("chatty", false), ("chatty-trap", true)] {
        let path = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&path, logging_module(fail)).unwrap();
        ok(&url, None, &["job", "submit", path.to_str().unwrap()]);
    }
    wait_runs(&url, "chatty", 0, 60);
    let trap = wait_runs(&url, "chatty-trap", 0, 60);
    let error = trap["stats"]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("[info] hello from a job | [error] about to finish"),
        "a failed run's error quotes its log: {error}"
    );

    let printed = ok(&url, None, &["job", "logs", "chatty", "--from", "now-60"]);
    let lines: Vec<&str> = printed.lines().collect();
    assert!(lines.len() >= 2, "{printed}");
    assert!(
        lines[0].ends_with("info  hello from a job") && lines[1].ends_with("error about to finish"),
        "{printed}"
    );
    let failed = ok(&url, None, &["job", "logs", "chatty-trap"]);
    assert!(
        failed
            .lines()
            .next()
            .unwrap_or_default()
            .ends_with("(run failed)"),
        "{failed}"
    );
    // The API's JSON: each line with its run.
    let api: Value =
        serde_json::from_str(&ok(&url, None, &["job", "logs", "chatty", "--json"])).unwrap();
    let first = &api["lines"][0];
    assert_eq!(first["level"], "info");
    assert_eq!(first["message"], "hello from a job");
    assert_eq!(first["run_failed"], false);
    assert!(first["epoch"].as_u64().is_some() && first["dc"].is_string());

    // --follow prints lines as runs finish.
    let mut follow = cli(&url, None, &["job", "logs", "chatty", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60));
    let _ = follow.kill();
    let _ = follow.wait();
    let line = line.expect("a followed line within 60 s");
    assert!(
        line.contains("hello from a job") || line.contains("about to finish"),
        "{line}"
    );

    let missing = fails(&url, None, &["job", "logs", "nobody"]);
    assert!(missing.contains("no job named"), "{missing}");
}

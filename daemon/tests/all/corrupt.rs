//! Issue 10, item 4: one unreadable chunk must not stall the daemon. A
//! commit whose chunk bytes are damaged on disk becomes a recorded error of
//! kind `corrupt` for each matching job and is acknowledged, once; a commit
//! that cannot be read for now is tried again without holding back the
//! others; what waits shows in the job's lag and in `commits_waiting`.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use epochd::registry::JobManifest;
use epochd::results::Outcome;
use epochd_hooks::{DispatchOptions, Wake};
use epochd_store::Format;
use serde_json::Value;

use crate::jobs::{node, wasm};
use crate::support::*;

/// `count` WEB events of `epoch` from dc `ams4`, as NDJSON: one commit, one chunk.
fn events(epoch: u64, count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        writeln!(
            out,
            r#"{{"timestamp": {epoch}.{i:03}, "type": "WEB", "subtype": "app", "dc": "ams4", "tuning": {{"status": 200, "wallclock": {i}}}}}"#
        )
        .unwrap();
    }
    out
}

/// Inverts every 7th byte of every bucket file under `data/chunks`, in
/// place: every chunk stored so far fails its checksum; chunks appended
/// later are intact.
fn damage_bucket_files(data: &Path) {
    let mut damaged = 0;
    for entry in std::fs::read_dir(data.join("chunks")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "chunks") {
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        for b in bytes.iter_mut().step_by(7) {
            *b = !*b;
        }
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&bytes, 0).unwrap();
        f.sync_all().unwrap();
        damaged += 1;
    }
    assert!(damaged > 0, "no bucket file under {}", data.display());
}

/// Embedded mode (the daemon reads the store in process): 5 commits whose
/// chunks were damaged after their commit, then 20 intact ones.
#[test]
fn corrupt_commits_become_corrupt_errors_and_the_commits_after_them_run() {
    let node = node(2, false);
    node.daemon
        .registry()
        .submit(JobManifest::new("count"), &wasm("count"))
        .unwrap();
    let first = now() - 200;
    for e in first..first + 5 {
        node.store.ingest(&events(e, 50), Format::Ndjson).unwrap();
    }
    assert_eq!(node.store.seal_all().unwrap().len(), 5);
    damage_bucket_files(&node.store.config().data_dir);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let wake = Wake::new();
    let on_commit = wake.clone();
    node.store.on_commit(Box::new(move |_| on_commit.wake()));
    let (dispatcher, receiver) =
        epochd_hooks::local(node.store.outbox(), wake, DispatchOptions::default());
    rt.spawn(dispatcher.run());
    rt.spawn(node.daemon.clone().run(receiver));

    for e in first + 5..first + 25 {
        node.store.ingest(&events(e, 50), Format::Ndjson).unwrap();
    }
    assert_eq!(node.store.seal_all().unwrap().len(), 20);
    wait_until(60, "every commit to be acknowledged", || {
        node.store.outbox().is_empty()
    });

    for e in first..first + 25 {
        let record = node
            .daemon
            .results()
            .get("count", e, "ams4", 0)
            .unwrap()
            .unwrap_or_else(|| panic!("no count result for epoch {e}"));
        match (&record.outcome, e < first + 5) {
            (Outcome::Error { kind, message }, true) => {
                assert_eq!(kind.as_str(), "corrupt", "{message}");
                assert!(
                    message.starts_with(&format!(
                        "chunk {e}/ams4/WEB/app/0 is corrupt: checksum mismatch: expected "
                    )),
                    "the message names the chunk and what is wrong: {message}"
                );
                assert!(message.contains(", actual "), "{message}");
            }
            (Outcome::Ok { .. }, false) => {}
            (outcome, _) => panic!("epoch {e}: unexpected {outcome:?}"),
        }
    }
    let job = node.daemon.registry().get("count").unwrap();
    assert_eq!(
        job.paused(),
        None,
        "5 corrupt commits in a row are not the job's fault"
    );
    assert_eq!(job.stats.errors.load(Ordering::Relaxed), 5);
    assert_eq!(job.stats.runs.load(Ordering::Relaxed), 25);
    assert_eq!(node.daemon.stats().corrupt.load(Ordering::Relaxed), 5);
    assert_eq!(node.daemon.stats().waiting.load(Ordering::Relaxed), 0);
    drop(rt);
}

/// Starts `epochd store` on `dir` with a hook socket; returns it, its URL
/// and the socket's path.
fn store_process(dir: &Path) -> (Proc, String, String) {
    let socket = dir.join("hooks.sock").to_str().unwrap().to_owned();
    let (store, url) = Proc::node(
        &[
            "store",
            "--data",
            dir.join("data").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--grace-ms",
            "0",
            "--hook-socket",
            &socket,
        ],
        &dir.join("store.log"),
    );
    (store, url, socket)
}

/// Starts `epochd daemon` with the `count` job, reading from `store_url`;
/// returns it and its own API's URL.
fn daemon_process(dir: &Path, socket: &str, store_url: &str) -> (Proc, String) {
    let jobs = dir.join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(jobs.join("count.wasm"), wasm("count")).unwrap();
    Proc::daemon_with_url(
        socket,
        store_url,
        &dir.join("daemon"),
        &["--jobs-dir", jobs.to_str().unwrap(), "--no-cgroups"],
        &dir.join("daemon.log"),
    )
}

/// The `count` results of `from..=to`, by epoch: `ok`, or the error's kind
/// and message.
fn count_results(daemon_url: &str, from: u64, to: u64) -> Vec<(u64, String, String)> {
    let answer: Value = get_json(&format!(
        "{daemon_url}/v1/jobs/count/results?from={from}&to={to}"
    ));
    let mut out = Vec::new();
    for epoch in answer["epochs"].as_array().unwrap() {
        for r in epoch["results"].as_array().unwrap() {
            let e = epoch["epoch"].as_u64().unwrap();
            match r["status"].as_str().unwrap() {
                "ok" => out.push((e, "ok".to_owned(), String::new())),
                _ => out.push((
                    e,
                    r["error"]["kind"].as_str().unwrap().to_owned(),
                    r["error"]["message"].as_str().unwrap().to_owned(),
                )),
            }
        }
    }
    out
}

/// Split mode: the store answers a damaged chunk with 500 `corrupt_chunk`;
/// the daemon records it and runs the 20 commits behind it.
#[test]
fn split_mode_corrupt_chunks_are_answered_as_such_and_recorded_and_the_rest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url, socket) = store_process(dir.path());
    // Committed before any daemon connects: their notices wait in the outbox.
    let first = now() - 200;
    for e in first..first + 5 {
        post_committed(&url, events(e, 50), "application/x-ndjson");
    }
    damage_bucket_files(&dir.path().join("data"));

    let answer = client()
        .get(format!("{url}/v1/chunks/{first}/ams4/WEB/app/0"))
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 500);
    let body: Value = answer.json().unwrap();
    assert_eq!(body["error"], "corrupt_chunk", "{body}");
    assert_eq!(body["details"]["chunk"], format!("{first}/ams4/WEB/app/0"));
    assert!(
        body["details"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("checksum mismatch: expected "),
        "{body}"
    );

    let (daemon, daemon_url) = daemon_process(dir.path(), &socket, &url);
    for e in first + 5..first + 25 {
        post_committed(&url, events(e, 50), "application/x-ndjson");
    }
    wait_until(60, "every commit to be acknowledged", || {
        metric(&url, "epochd_store_hook_backlog") == Some(0.0)
    });
    let results = count_results(&daemon_url, first, first + 24);
    assert_eq!(results.len(), 25, "one result per commit: {results:?}");
    for (e, kind, message) in &results {
        if *e < first + 5 {
            assert_eq!(kind, "corrupt", "epoch {e}: {message}");
            assert!(
                message.starts_with(&format!(
                    "chunk {e}/ams4/WEB/app/0 is corrupt: checksum mismatch: expected "
                )),
                "{message}"
            );
        } else {
            assert_eq!(kind, "ok", "epoch {e}: {message}");
        }
    }
    let job: Value = get_json(&format!("{daemon_url}/v1/jobs/count"));
    assert_eq!(job["state"], "running", "{job}");
    wait_until(10, "nothing waiting", || {
        metric(&daemon_url, "epochd_daemon_commits_waiting") == Some(0.0)
    });
    assert_eq!(
        metric(&daemon_url, "epochd_daemon_commits_corrupt_total"),
        Some(5.0)
    );
    daemon.stop();
    store.stop();
}

/// An HTTP relay to the store that answers 503 to chunk reads of the
/// epochs in `failing`, and forwards every other GET (one request per
/// connection, so that no pooled connection slips past it).
struct Relay {
    url: String,
    failing: Arc<Mutex<BTreeSet<u64>>>,
}

impl Relay {
    fn start(store_url: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let failing = Arc::new(Mutex::new(BTreeSet::new()));
        let (store_url, shared) = (store_url.to_owned(), failing.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (store_url, failing) = (store_url.clone(), shared.clone());
                std::thread::spawn(move || relay_one(conn, &store_url, &failing));
            }
        });
        Relay { url, failing }
    }

    fn fail(&self, epochs: impl IntoIterator<Item = u64>) {
        *self.failing.lock().unwrap() = epochs.into_iter().collect();
    }
}

fn relay_one(mut conn: TcpStream, store_url: &str, failing: &Mutex<BTreeSet<u64>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let epoch = path
        .strip_prefix("/v1/chunks/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|e| e.parse::<u64>().ok());
    let (status, content_type, body) =
        if epoch.is_some_and(|e| failing.lock().unwrap().contains(&e)) {
            (
                503,
                "application/json".to_owned(),
                br#"{"error":"unavailable","message":"relay says no"}"#.to_vec(),
            )
        } else {
            match client().get(format!("{store_url}{path}")).send() {
                Ok(answer) => (
                    answer.status().as_u16(),
                    answer
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("application/octet-stream")
                        .to_owned(),
                    answer.bytes().unwrap_or_default().to_vec(),
                ),
                Err(_) => return,
            }
        };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(&body);
}

/// Split mode, a failure that may pass (503 from the store): such commits
/// are tried again without holding a worker, so the commits behind them
/// run; while they wait, the job's lag and `commits_waiting` say so.
#[test]
fn commits_that_cannot_be_read_for_now_wait_without_holding_back_the_rest_and_show_as_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url, socket) = store_process(dir.path());
    let relay = Relay::start(&url);
    let (daemon, daemon_url) = daemon_process(dir.path(), &socket, &relay.url);
    let job = || -> Value { get_json(&format!("{daemon_url}/v1/jobs/count")) };
    let waiting = || metric(&daemon_url, "epochd_daemon_commits_waiting");

    let first = now() - 200;
    post_committed(&url, events(first, 20), "application/x-ndjson");
    wait_until(30, "the first commit's result", || {
        job()["stats"]["last_epoch"] == first
    });

    // The store cannot serve chunks for now: 8 commits (more than the 4
    // processed at once) wait, and say so.
    relay.fail(first + 1..=first + 8);
    for e in first + 1..=first + 8 {
        post_committed(&url, events(e, 20), "application/x-ndjson");
    }
    wait_until(30, "8 commits waiting, every one tried", || {
        waiting() == Some(8.0) && metric(&daemon_url, "epochd_daemon_commits_retrying") == Some(8.0)
    });
    let shown = job();
    assert_eq!(shown["stats"]["commits_waiting"], 8, "{shown}");
    assert_eq!(
        shown["stats"]["lag_epochs"], 8,
        "lag against the newest commit received, not the newest processed: {shown}"
    );
    assert_eq!(
        metric(&daemon_url, "epochd_daemon_newest_epoch"),
        Some((first + 8) as f64)
    );

    // The 4 oldest still fail: the 4 behind them run all the same.
    relay.fail(first + 1..=first + 4);
    wait_until(60, "the 4 newest commits to run", || {
        count_results(&daemon_url, first + 5, first + 8).len() == 4
    });
    assert!(count_results(&daemon_url, first + 1, first + 4).is_empty());
    wait_until(10, "4 commits still waiting", || waiting() == Some(4.0));
    assert_eq!(job()["stats"]["commits_waiting"], 4);
    wait_until(10, "4 notices unacknowledged at the store", || {
        metric(&url, "epochd_store_hook_backlog") == Some(4.0)
    });

    // The store recovers: the 4 are tried again and run; nothing was
    // recorded as an error meanwhile.
    relay.fail([]);
    wait_until(60, "every commit to be acknowledged", || {
        metric(&url, "epochd_store_hook_backlog") == Some(0.0)
    });
    let results = count_results(&daemon_url, first, first + 8);
    assert_eq!(results.len(), 9, "{results:?}");
    assert!(
        results.iter().all(|(_, kind, _)| kind == "ok"),
        "{results:?}"
    );
    wait_until(10, "nothing waiting", || waiting() == Some(0.0));
    let shown = job();
    assert_eq!(shown["stats"]["lag_epochs"], 0, "{shown}");
    assert_eq!(shown["stats"]["errors"], 0, "{shown}");
    daemon.stop();
    store.stop();
}

//! The HTTP server's limits (issue 10.3 and 10.8): idle, silent and slow
//! connections cannot exhaust the node's file descriptors or stop ingest.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use epochd_workload::{Format, Workload, WorkloadConfig};

use crate::support::*;

/// Raises this test process's own open-file limit, to hold thousands of
/// client connections.
fn raise_own_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )
    .unwrap();
}

/// The reproduction of issue 10.3: a node limited to 1024 descriptors, 2000
/// idle TCP connections, then batches whose commits open new chunk files.
/// Before the fix the store hit "Too many open files" and refused every
/// batch until restarted.
#[test]
fn two_thousand_idle_connections_do_not_stop_ingest() {
    raise_own_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (node, url) = Proc::serve_under(
        &["prlimit", "--nofile=1024:1024", "--"],
        dir.path(),
        &[
            "--grace-ms",
            "0",
            // Long enough that the idle connections stay for the whole test.
            "--header-timeout-ms",
            "300000",
        ],
    );
    let addr = url.strip_prefix("http://").unwrap().to_owned();
    let cap = metric(&url, "epochd_http_connection_cap").unwrap();
    assert_eq!(
        cap,
        1024.0 - 256.0,
        "the cap leaves descriptors for the node"
    );

    let mut idle = Vec::new();
    for _ in 0..2000 {
        idle.push(TcpStream::connect(&addr).unwrap());
    }
    // Every epoch in a bucket of its own: each commit opens a new chunk file.
    let workload = Workload::new(WorkloadConfig::default());
    let base = now() - 3000;
    let mut sent = 0;
    for i in 0..10u64 {
        let epoch = base + i * 60;
        let body = workload.encode_epoch(epoch, 50, Format::Ndjson);
        let answer = post_committed(&url, body, "application/x-ndjson");
        assert_eq!(answer["accepted"], 50, "{answer}");
        assert_eq!(answer["commits"].as_array().unwrap().len(), 4, "{answer}");
        sent += 50;
    }
    let health = client().get(format!("{url}/healthz")).send().unwrap();
    assert_eq!(health.status(), 200, "{:?}", health.text());
    let evicted = metric(&url, "epochd_http_connections_evicted_total").unwrap();
    assert!(
        evicted >= 2000.0 - cap,
        "silent connections made room: {evicted}"
    );
    assert!(metric(&url, "epochd_http_connections_open").unwrap() <= cap);
    drop(idle);
    node.stop();
    let (commits, _) = stored_events(&data);
    assert_eq!(commits.iter().map(|c| c.events).sum::<u64>(), sent);
}

/// Slowloris: headers that never end are cut off after the header timeout,
/// and a body that trickles is answered 408 after the body timeout, with
/// nothing stored.
#[test]
fn slow_headers_and_slow_bodies_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = Proc::serve(
        dir.path(),
        &["--header-timeout-ms", "1000", "--body-timeout-ms", "1000"],
    );
    let addr = url.strip_prefix("http://").unwrap().to_owned();

    let started = Instant::now();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    slow.write_all(b"POST /v1/events HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let mut rest = Vec::new();
    // The server closes it (end of stream or a reset), not the read timeout.
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a connection that never finishes its headers is closed"
    );

    let mut trickle = TcpStream::connect(&addr).unwrap();
    trickle
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let line = format!(
        r#"{{"timestamp": {}, "type": "WEB", "dc": "ams4"}}"#,
        now() - 10
    );
    trickle
        .write_all(
            format!(
                "POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\n\r\n{}",
                line.len() + 100,
                line
            )
            .as_bytes(),
        )
        .unwrap();
    let mut answer = String::new();
    let _ = trickle.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a body that does not arrive is answered 408: {answer:?}"
    );
    assert!(answer.contains("body_timeout"), "{answer}");
    let commits: serde_json::Value = get_json(&format!(
        "{url}/v1/commits?from={}&to={}",
        now() - 100,
        now()
    ));
    assert_eq!(commits["commits"], serde_json::json!([]), "nothing stored");
}

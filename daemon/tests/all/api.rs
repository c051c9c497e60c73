//! The jobs and results API end to end: a real node with tokens, over real
//! HTTP on loopback, running real jobs built from wasm-jobs/.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};

use epochd_workload::{Format, Workload, WorkloadConfig};
use serde_json::{json, Value};

use crate::jobs::wasm;
use crate::support::{now, wait_until, Proc};

const ADMIN: &str = "admin-token-0123456789";
const READ: &str = "read-token-0123456789";
const INGEST: &str = "ingest-token-0123456789";

struct Node {
    _dir: tempfile::TempDir,
    _proc: Proc,
    url: String,
}

/// A node with the three tokens and `extra` flags.
fn node(extra: &[&str]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--grace-ms",
        "0",
        "--admin-token",
        ADMIN,
        "--read-token",
        READ,
        "--ingest-token",
        INGEST,
    ];
    args.extend_from_slice(extra);
    let (proc, url) = Proc::serve(dir.path(), &args);
    Node {
        _dir: dir,
        _proc: proc,
        url,
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
}

/// A multipart/form-data body of `(name, bytes)` parts.
fn form(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "epochd-test-boundary-7c1f";
    let mut body = Vec::new();
    for (name, bytes) in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POSTs a job; returns the status and the JSON answer.
fn submit(url: &str, token: Option<&str>, manifest: &Value, module: &[u8]) -> (u16, Value) {
    let manifest = manifest.to_string();
    let (content_type, body) = form(&[("manifest", manifest.as_bytes()), ("wasm", module)]);
    send(
        client()
            .post(format!("{url}/v1/jobs"))
            .header("content-type", content_type)
            .body(body),
        token,
    )
}

fn send(request: reqwest::blocking::RequestBuilder, token: Option<&str>) -> (u16, Value) {
    let request = match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    };
    let answer = request.send().unwrap();
    let status = answer.status().as_u16();
    let text = answer.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    send(client().get(url), token)
}

/// Ingests `per_epoch` generated events for each epoch (every dc of the
/// reference workload) in one request and waits for their commits; returns
/// the events per epoch.
fn ingest(url: &str, epochs: std::ops::Range<u64>, per_epoch: usize) -> BTreeMap<u64, u64> {
    let w = Workload::new(WorkloadConfig::default());
    let mut counts = BTreeMap::new();
    let mut body = Vec::new();
    for e in epochs {
        body.extend(w.encode_epoch(e, per_epoch, Format::MsgPack));
        counts.insert(e, per_epoch as u64);
    }
    let (status, answer) = send(
        client()
            .post(format!("{url}/v1/events?wait=commit"))
            .header("content-type", "application/msgpack")
            .body(body),
        Some(INGEST),
    );
    assert_eq!(status, 200, "ingest: {answer}");
    counts
}

fn manifest(name: &str) -> Value {
    json!({"name": name, "deadline_ms": 5000})
}

/// One server-sent event.
#[derive(Debug)]
struct Event {
    kind: String,
    id: Option<u64>,
    data: Value,
}

/// A Server-Sent Events stream read as it arrives.
struct Sse {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
}

impl Sse {
    fn open(url: &str, token: &str, last_event_id: Option<u64>) -> Sse {
        let mut request = client().get(url).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let answer = request.send().unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        assert_eq!(
            answer.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            lines: BufReader::new(answer).lines(),
        }
    }

    /// The next event (keep-alive comments skipped).
    fn next(&mut self) -> Event {
        let (mut kind, mut id, mut data) = (String::from("message"), None, None);
        loop {
            let line = self.lines.next().expect("the stream ended").unwrap();
            if line.is_empty() {
                if let Some(data) = data.take() {
                    return Event { kind, id, data };
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event: ") {
                kind = v.to_owned();
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.parse().unwrap());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(v).unwrap());
            }
        }
    }

    /// The next `epoch` event.
    fn next_epoch(&mut self) -> Event {
        loop {
            let e = self.next();
            if e.kind == "epoch" {
                return e;
            }
        }
    }
}

/// Events the count job counted in an epoch, summed over its dc results.
fn counted(epoch: &Value) -> u64 {
    epoch["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "ok", "{r}");
            r["result"]["events"].as_u64().unwrap()
        })
        .sum()
}

#[test]
fn a_submitted_job_streams_every_epoch_in_order_over_sse_and_ndjson_and_resumes() {
    let n = node(&[]);
    let (status, job) = submit(&n.url, Some(ADMIN), &manifest("count"), &wasm("count"));
    assert_eq!(status, 201, "{job}");
    assert_eq!(job["name"], "count");
    assert_eq!(job["state"], "running");
    assert_eq!(job["exports_merge"], true);

    let first = now() - 600;
    let posted = ingest(&n.url, first..first + 8, 400);
    let stream = format!("{}/v1/jobs/count/results/stream", n.url);

    // Every epoch, in order, from storage, with the right counts and merge.
    let mut sse = Sse::open(&format!("{stream}?from={first}"), READ, None);
    for (epoch, events) in &posted {
        let e = sse.next_epoch();
        assert_eq!(e.id, Some(*epoch));
        assert_eq!(e.data["epoch"], *epoch);
        assert_eq!(counted(&e.data), *events, "{}", e.data);
        assert_eq!(e.data["merged"]["events"], *events, "{}", e.data);
    }

    // Resume after the fourth: the fifth comes next, nothing repeated.
    let mut resumed = Sse::open(&stream, READ, Some(first + 3));
    assert_eq!(resumed.next_epoch().id, Some(first + 4));
    assert_eq!(resumed.next_epoch().id, Some(first + 5));

    // Live: a subscriber from now sees the next epochs as they commit.
    let mut live = Sse::open(&stream, READ, None);
    let more = ingest(&n.url, first + 8..first + 11, 300);
    for (epoch, events) in &more {
        let e = live.next_epoch();
        assert_eq!(e.id, Some(*epoch));
        assert_eq!(counted(&e.data), *events);
        // The earlier streams carry on live too.
        assert_eq!(sse.next_epoch().id, Some(*epoch));
    }

    // NDJSON: the same epochs, one object per line.
    let answer = client()
        .get(format!("{stream}?from={first}&format=ndjson"))
        .bearer_auth(READ)
        .send()
        .unwrap();
    assert_eq!(
        answer.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let mut lines = BufReader::new(answer).lines();
    for epoch in first..first + 11 {
        let line: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(line["type"], "epoch");
        assert_eq!(line["epoch"], epoch);
    }

    // The range query and the job's stats agree.
    let (status, range) = get(
        &format!(
            "{}/v1/jobs/count/results?from={first}&to={}",
            n.url,
            first + 10
        ),
        Some(READ),
    );
    assert_eq!(status, 200, "{range}");
    let epochs = range["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 11);
    for e in epochs {
        let epoch = e["epoch"].as_u64().unwrap();
        assert_eq!(
            counted(e),
            posted.get(&epoch).or(more.get(&epoch)).copied().unwrap()
        );
    }
    let (_, job) = get(&format!("{}/v1/jobs/count", n.url), Some(READ));
    assert_eq!(job["stats"]["last_epoch"], first + 10, "{job}");
    assert_eq!(job["stats"]["errors"], 0);
    assert!(job["stats"]["runs"].as_u64().unwrap() >= 11);
}

#[test]
fn a_new_job_backfills_the_stored_epochs() {
    let n = node(&[]);
    let first = now() - 900;
    let posted = ingest(&n.url, first..first + 5, 300);
    let mut m = manifest("count-backfilled");
    m["backfill"] = json!({"from": first, "to": first + 4});
    let (status, job) = submit(&n.url, Some(ADMIN), &m, &wasm("count"));
    assert_eq!(status, 201, "{job}");
    let job_url = format!("{}/v1/jobs/count-backfilled", n.url);
    wait_until(60, "the backfill to finish", || {
        get(&job_url, Some(READ)).1["backfill"]["state"] == "done"
    });
    let (_, job) = get(&job_url, Some(READ));
    assert_eq!(job["backfill"]["done"], job["backfill"]["total"]);
    let (_, range) = get(
        &format!("{job_url}/results?from={first}&to={}", first + 4),
        Some(READ),
    );
    let epochs = range["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 5, "{range}");
    for e in epochs {
        assert_eq!(counted(e), posted[&e["epoch"].as_u64().unwrap()]);
        assert_eq!(e["merged"]["events"], posted[&e["epoch"].as_u64().unwrap()]);
    }
}

/// A module in WebAssembly text.
fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

#[test]
fn every_bad_submission_gets_its_own_4xx_and_registers_nothing() {
    let n = node(&["--max-job-bytes", "200000"]);
    let good = wasm("count");
    // 64 pages (4 MiB) of linear memory at instantiation.
    let big = wat(r#"(module (memory (export "memory") 64)
        (func (export "epochd_abi_version") (result i32) i32.const 1)
        (func (export "epochd_run") (result i32) i32.const 0))"#);
    let cases: Vec<(&str, Value, Vec<u8>, u16, &str)> = vec![
        (
            "not wasm",
            manifest("a"),
            b"hello, world".to_vec(),
            400,
            "not_wasm",
        ),
        (
            "missing export",
            manifest("b"),
            wat(r#"(module (memory (export "memory") 1)
                 (func (export "epochd_abi_version") (result i32) i32.const 1))"#),
            400,
            "missing_export",
        ),
        (
            "wrong export",
            manifest("c"),
            wat(r#"(module (memory (export "memory") 1)
                 (func (export "epochd_abi_version") (result i32) i32.const 1)
                 (func (export "epochd_run") (param i32) (result i32) i32.const 0))"#),
            400,
            "wrong_export",
        ),
        (
            "forbidden import",
            manifest("d"),
            wat(r#"(module
                 (import "env" "open" (func (param i32) (result i32)))
                 (memory (export "memory") 1)
                 (func (export "epochd_abi_version") (result i32) i32.const 1)
                 (func (export "epochd_run") (result i32) i32.const 0))"#),
            400,
            "forbidden_import",
        ),
        (
            "ABI version mismatch",
            manifest("e"),
            wat(r#"(module (memory (export "memory") 1)
                 (func (export "epochd_abi_version") (result i32) i32.const 2)
                 (func (export "epochd_run") (result i32) i32.const 0))"#),
            400,
            "abi_version",
        ),
        (
            "too large",
            manifest("f"),
            vec![0u8; 300_000],
            413,
            "module_too_large",
        ),
        (
            "bad name",
            json!({"name": "Not A Name"}),
            good.clone(),
            400,
            "bad_manifest",
        ),
        (
            "unknown manifest field",
            json!({"name": "g", "cpu": 1}),
            good.clone(),
            400,
            "bad_manifest",
        ),
        (
            "initial memory above memory_mib",
            json!({"name": "k", "memory_mib": 2}),
            big.clone(),
            400,
            "bad_manifest",
        ),
        (
            "a backfill of more than a day, to left out (to now)",
            json!({"name": "l", "backfill": {"from": 1_000_000_000}}),
            good.clone(),
            400,
            "bad_manifest",
        ),
        (
            "cpu share out of range",
            json!({"name": "h", "cpu_share": 3.0}),
            good.clone(),
            400,
            "bad_manifest",
        ),
    ];
    for (what, m, module, status, code) in cases {
        let (got, answer) = submit(&n.url, Some(ADMIN), &m, &module);
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["error"], code, "{what}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().len() > 20,
            "{what}: the message says what to do: {answer}"
        );
    }
    // Imports refused for three reasons: `error` is the first one's code,
    // and `details` lists each with its own.
    let (got, answer) = submit(
        &n.url,
        Some(ADMIN),
        &manifest("m"),
        &wat(r#"(module
             (import "env" "open" (func (param i32) (result i32)))
             (import "epochd" "nope" (func))
             (import "wasi_snapshot_preview1" "fd_write" (func (param i32)))
             (memory (export "memory") 1)
             (func (export "epochd_abi_version") (result i32) i32.const 1)
             (func (export "epochd_run") (result i32) i32.const 0))"#),
    );
    assert_eq!(
        (got, answer["error"].as_str()),
        (400, Some("forbidden_import"))
    );
    let listed: Vec<(&str, &str, &str)> = answer["details"]["imports"]
        .as_array()
        .unwrap_or_else(|| panic!("no details.imports: {answer}"))
        .iter()
        .map(|i| {
            assert!(i["why"].as_str().unwrap().len() > 10, "{i}");
            assert_eq!(i["kind"], "func", "{i}");
            (
                i["module"].as_str().unwrap(),
                i["name"].as_str().unwrap(),
                i["error"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("env", "open", "forbidden_import"),
            ("epochd", "nope", "unknown_import"),
            ("wasi_snapshot_preview1", "fd_write", "wrong_import"),
        ],
        "{answer}"
    );
    // A module too big for its own memory cap says by how much (`needs`
    // MiB, in words that name `what`), and is accepted with that much.
    let fits_only_with = |name: &str, module: &[u8], needs: u32, what: &str| {
        let small = json!({"name": name, "memory_mib": needs - 2});
        let (got, answer) = submit(&n.url, Some(ADMIN), &small, module);
        assert_eq!((got, answer["error"].as_str()), (400, Some("bad_manifest")));
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains(what) && message.contains(&format!("at least {needs}")),
            "{answer}"
        );
        let enough = json!({"name": name, "memory_mib": needs});
        let (got, answer) = submit(&n.url, Some(ADMIN), &enough, module);
        assert_eq!(got, 201, "{needs} MiB is enough: {answer}");
        let deleted = send(
            client().delete(format!("{}/v1/jobs/{name}", n.url)),
            Some(ADMIN),
        );
        assert_eq!(deleted.0, 204, "{}", deleted.1);
    };
    // 64 pages at instantiation.
    fits_only_with("k", &big, 4, "initial memory");
    // A reactor whose `_initialize` grows its memory to 65 pages (it reads
    // the epoch, so it runs in every run): every run starts there, so the
    // same cap applies.
    let grows = wat(r#"(module
        (import "epochd" "rows" (func $rows (result i32)))
        (memory (export "memory") 1)
        (func (export "_initialize") (drop (call $rows)) (drop (memory.grow (i32.const 64))))
        (func (export "epochd_abi_version") (result i32) i32.const 1)
        (func (export "epochd_run") (result i32) i32.const 0))"#);
    fits_only_with("n", &grows, 5, "after its `_initialize`");
    let post_form = |parts: &[(&str, &[u8])]| {
        let (content_type, body) = form(parts);
        send(
            client()
                .post(format!("{}/v1/jobs", n.url))
                .header("content-type", content_type)
                .body(body),
            Some(ADMIN),
        )
    };
    // A form without the module.
    let (got, answer) = post_form(&[("manifest", br#"{"name":"i"}"#)]);
    assert_eq!((got, answer["error"].as_str()), (400, Some("bad_form")));
    // A part of another name is named as sent.
    let (got, answer) = post_form(&[("manifest", br#"{"name":"i"}"#), ("other", b"x")]);
    assert_eq!((got, answer["error"].as_str()), (400, Some("bad_form")));
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("unexpected form part `other`"),
        "{answer}"
    );
    let (_, jobs) = get(&format!("{}/v1/jobs", n.url), Some(READ));
    assert_eq!(jobs["jobs"], json!([]), "nothing was registered");
    // The same name twice.
    assert_eq!(submit(&n.url, Some(ADMIN), &manifest("j"), &good).0, 201);
    let (got, answer) = submit(&n.url, Some(ADMIN), &manifest("j"), &good);
    assert_eq!((got, answer["error"].as_str()), (409, Some("job_exists")));
}

#[test]
fn tokens_guard_every_role() {
    let n = node(&[]);
    let u = &n.url;
    let module = wasm("count");
    // No token, a wrong token, the read token and the ingest token cannot submit.
    for (token, status) in [
        (None, 401),
        (Some("not-a-token-at-all-000"), 401),
        (Some(READ), 403),
        (Some(INGEST), 403),
    ] {
        let (got, answer) = submit(u, token, &manifest("count"), &module);
        assert_eq!(got, status, "{token:?}: {answer}");
    }
    assert_eq!(submit(u, Some(ADMIN), &manifest("count"), &module).0, 201);
    // Reading jobs and results: read or admin.
    assert_eq!(get(&format!("{u}/v1/jobs"), None).0, 401);
    assert_eq!(get(&format!("{u}/v1/jobs"), Some(INGEST)).0, 403);
    assert_eq!(get(&format!("{u}/v1/jobs"), Some(READ)).0, 200);
    assert_eq!(
        get(&format!("{u}/v1/jobs?access_token={READ}"), None).0,
        200
    );
    assert_eq!(get(&format!("{u}/metrics"), Some(READ)).0, 200);
    // The scheme is case-insensitive; another scheme is no token.
    for (scheme, status) in [("bearer", 200), ("BEARER", 200), ("Basic", 401)] {
        let got = client()
            .get(format!("{u}/v1/jobs"))
            .header("authorization", format!("{scheme} {READ}"))
            .send()
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(got, status, "{scheme}");
    }
    // Raw events leave only with the admin token.
    let commits = format!("{u}/v1/commits?from=0&to=1");
    assert_eq!(get(&commits, Some(READ)).0, 403);
    assert_eq!(get(&commits, Some(INGEST)).0, 403);
    assert_eq!(get(&commits, Some(ADMIN)).0, 200);
    // Pause, resume and delete: admin only.
    let pause = |token| send(client().post(format!("{u}/v1/jobs/count/pause")), token).0;
    assert_eq!(pause(Some(READ)), 403);
    assert_eq!(pause(Some(ADMIN)), 200);
    assert_eq!(
        get(&format!("{u}/v1/jobs/count"), Some(READ)).1["state"],
        "paused"
    );
    let (status, job) = send(
        client().post(format!("{u}/v1/jobs/count/resume")),
        Some(ADMIN),
    );
    assert_eq!((status, job["state"].as_str()), (200, Some("running")));
    assert_eq!(
        send(client().delete(format!("{u}/v1/jobs/count")), Some(READ)).0,
        403
    );
    assert_eq!(
        send(client().delete(format!("{u}/v1/jobs/count")), Some(ADMIN)).0,
        204
    );
    assert_eq!(get(&format!("{u}/v1/jobs/count"), Some(READ)).0, 404);
    // Ingest: the ingest or admin token.
    let events =
        Workload::new(WorkloadConfig::default()).encode_epoch(now() - 60, 10, Format::MsgPack);
    let post = |token| {
        send(
            client()
                .post(format!("{u}/v1/events"))
                .header("content-type", "application/msgpack")
                .body(events.clone()),
            token,
        )
        .0
    };
    assert_eq!(post(None), 401);
    assert_eq!(post(Some(READ)), 403);
    assert_eq!(post(Some(INGEST)), 200);
    // Health needs nothing.
    assert_eq!(
        client()
            .get(format!("{u}/healthz"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn a_node_refuses_to_start_open_on_a_network_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_epochd"))
        .args(["serve", "--no-auth", "--listen", "0.0.0.0:0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_epochd"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env_remove("EPOCHD_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--admin-token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A subscriber that reads nothing until told to: a raw connection whose
/// receive buffer is 4 KiB (so the node's writes block soon, as with a slow
/// client across a network, instead of filling loopback's megabytes).
struct SlowSubscriber(std::net::TcpStream);

impl SlowSubscriber {
    fn open(url: &str, path_and_query: &str, token: &str) -> SlowSubscriber {
        use rustix::net::{AddressFamily, SocketType};
        let addr: std::net::SocketAddr = url.strip_prefix("http://").unwrap().parse().unwrap();
        let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
        // Before connecting, so the advertised window stays this small.
        rustix::net::sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
        rustix::net::connect(&fd, &addr).unwrap();
        let mut stream = std::net::TcpStream::from(fd);
        // A failing test must not hang.
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        use std::io::Write;
        write!(
            stream,
            "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        SlowSubscriber(stream)
    }

    /// Reads everything until the node closes, and returns the SSE events.
    fn read_to_end(mut self) -> Vec<Event> {
        use std::io::Read;
        let mut raw = Vec::new();
        self.0.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.to_lowercase().contains("transfer-encoding: chunked"),
            "{head}"
        );
        // De-chunk the body.
        let mut body = Vec::new();
        let mut rest = &raw[split + 4..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                    .unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        let text = String::from_utf8(body).unwrap();
        text.split("\n\n")
            .filter(|block| block.lines().any(|l| l.starts_with("data: ")))
            .map(|block| {
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(str::to_owned))
                };
                Event {
                    kind: field("event: ").unwrap_or_else(|| "message".into()),
                    id: field("id: ").map(|id| id.parse().unwrap()),
                    data: serde_json::from_str(&field("data: ").unwrap()).unwrap(),
                }
            })
            .collect()
    }
}

#[test]
fn a_slow_subscriber_is_cut_off_without_slowing_the_others_and_resumes_without_loss() {
    let n = node(&["--stream-buffer", "8"]);
    assert_eq!(
        submit(&n.url, Some(ADMIN), &manifest("count"), &wasm("count")).0,
        201
    );
    let path = "/v1/jobs/count/results/stream";
    // More results than the node's send buffer for one connection (256
    // KiB), hyper's write buffer and the stream's 8 events hold.
    let first = now() - 1200;
    let last = first + 699;
    let slow = SlowSubscriber::open(&n.url, &format!("{path}?from={first}"), READ);
    let mut fast = Sse::open(&format!("{}{path}?from={first}", n.url), READ, None);
    ingest(&n.url, first..last + 1, 40);
    // The fast one keeps up (on a loaded machine it too may fall 8 events
    // behind the burst: then it resumes, as any client does).
    let mut epoch = first;
    while epoch <= last {
        let e = fast.next();
        match e.kind.as_str() {
            "epoch" => {
                assert_eq!(e.id, Some(epoch), "every epoch in order, once");
                epoch += 1;
            }
            "end" => {
                assert_eq!(e.data["resume_from"], epoch);
                fast = Sse::open(&format!("{}{path}", n.url), READ, Some(epoch - 1));
            }
            _ => {}
        }
    }
    // Now the slow one reads: consecutive epochs, then the end event.
    let events = slow.read_to_end();
    let mut next = first;
    let mut resume_from = None;
    for e in events {
        match e.kind.as_str() {
            "epoch" => {
                assert_eq!(e.id, Some(next));
                next += 1;
            }
            // Results of late events, for epochs it already has.
            "late" => assert!(e.data["epoch"].as_u64().unwrap() < next),
            "end" => {
                assert_eq!(e.data["reason"], "lagging", "{}", e.data);
                resume_from = e.data["resume_from"].as_u64();
            }
            other => panic!("unexpected {other} event"),
        }
    }
    assert!(next <= last, "the slow subscriber was never cut off");
    assert_eq!(resume_from, Some(next), "end says where to resume");
    // It resumes after its last epoch and gets the rest, from storage.
    let mut again = Sse::open(&format!("{}{path}", n.url), READ, Some(next - 1));
    for epoch in next..=last {
        assert_eq!(again.next_epoch().id, Some(epoch));
    }
}

/// A value of the node's /metrics, read with the read token.
fn read_metric(url: &str, name: &str) -> f64 {
    let text = client()
        .get(format!("{url}/metrics"))
        .bearer_auth(READ)
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn subscribers_catching_up_over_the_same_epochs_merge_each_once_and_never_stale() {
    let n = node(&[]);
    let (status, job) = submit(&n.url, Some(ADMIN), &manifest("count"), &wasm("count"));
    assert_eq!(status, 201, "{job}");
    let first = now() - 600;
    let posted = ingest(&n.url, first..first + 8, 300);
    let stream = format!("{}/v1/jobs/count/results/stream?from={first}", n.url);
    // The live stream has rendered the epochs once they were complete.
    let renders = "epochd_daemon_epoch_renders_total";
    let hits = "epochd_daemon_epoch_render_cache_hits_total";
    wait_until(20, "the live stream's renderings", || {
        read_metric(&n.url, renders) >= posted.len() as f64
    });
    let (renders0, hits0) = (read_metric(&n.url, renders), read_metric(&n.url, hits));

    // Five subscribers catch up over the same stored epochs: the same
    // bytes for each, from the cache.
    let mut seen: Vec<Vec<Value>> = Vec::new();
    for _ in 0..5 {
        let mut sse = Sse::open(&stream, READ, None);
        seen.push(
            (0..posted.len())
                .map(|_| {
                    let mut e = sse.next_epoch().data;
                    e.as_object_mut().unwrap().remove("emitted_at_ms");
                    e
                })
                .collect(),
        );
    }
    for epochs in &seen[1..] {
        assert_eq!(epochs, &seen[0]);
    }
    for (e, (epoch, events)) in seen[0].iter().zip(&posted) {
        assert_eq!(e["epoch"], *epoch);
        assert_eq!(e["merged"]["events"], *events, "{e}");
    }
    let served = read_metric(&n.url, hits) - hits0;
    assert!(
        read_metric(&n.url, renders) - renders0 <= posted.len() as f64,
        "{} renders for {} epochs",
        read_metric(&n.url, renders) - renders0,
        posted.len()
    );
    assert!(served >= 4.0 * posted.len() as f64, "{served} cache hits");

    // The job deleted and another module submitted under its name: its
    // merge, not the cached one, renders the stored results.
    let deleted = client()
        .delete(format!("{}/v1/jobs/count", n.url))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    assert!(deleted.status().is_success());
    let (status, job) = submit(&n.url, Some(ADMIN), &manifest("count"), &wasm("latency"));
    assert_eq!(status, 201, "{job}");
    let (status, range) = get(
        &format!("{}/v1/jobs/count/results?from={first}&to={first}", n.url),
        Some(READ),
    );
    assert_eq!(status, 200, "{range}");
    let again = &range["epochs"][0];
    assert_eq!(
        again["results"], seen[0][0]["results"],
        "the stored results"
    );
    assert_ne!(again["merged"], seen[0][0]["merged"], "{again}");
    assert!(again["merged_error"].is_string(), "{again}");
}

#[test]
fn a_node_counts_what_it_serves_by_peer_and_what_decoding_costs() {
    // Two jobs on a node that decodes once per job (the cluster benchmark's
    // MapReduce way): each commit is decoded twice.
    let n = node(&["--decode-per-job"]);
    for name in ["count", "count-again"] {
        let (status, job) = submit(&n.url, Some(ADMIN), &manifest(name), &wasm("count"));
        assert_eq!(status, 201, "{job}");
    }
    let first = now() - 600;
    let posted = ingest(&n.url, first..first + 3, 200);
    let commits = |url: &str| -> f64 {
        get(
            &format!("{url}/v1/commits?from={first}&to={}", first + 2),
            Some(ADMIN),
        )
        .1["commits"]
            .as_array()
            .map_or(0, Vec::len) as f64
    };
    let decoded = "epochd_daemon_commits_decoded_total";
    wait_until(20, "every commit decoded for both jobs", || {
        read_metric(&n.url, decoded) >= 2.0 * commits(&n.url)
    });
    assert_eq!(
        read_metric(&n.url, decoded),
        2.0 * commits(&n.url),
        "{posted:?}"
    );
    assert!(read_metric(&n.url, "epochd_daemon_decode_cpu_seconds_total") > 0.0);
    assert!(read_metric(&n.url, "epochd_process_cpu_seconds_total") > 0.0);
    assert!(read_metric(&n.url, "epochd_process_peak_resident_bytes") > 1e6);

    // A body sent to a client counts as a client's; one to a request that
    // names another node counts as that node's, to the byte.
    let client_bytes = "epochd_http_response_bytes_total{peer=\"client\"}";
    let node_bytes = "epochd_http_response_bytes_total{peer=\"node\"}";
    let node_before = read_metric(&n.url, node_bytes);
    let answer = client()
        .get(format!("{}/v1/jobs", n.url))
        .bearer_auth(READ)
        .header("x-epochd-node", "n7")
        .send()
        .unwrap();
    // Counting keeps a body's known length: no chunked encoding for it.
    let length = answer.headers()["content-length"]
        .to_str()
        .unwrap()
        .to_owned();
    let to_node = answer.bytes().unwrap().len() as f64;
    assert_eq!(length, to_node.to_string());
    assert_eq!(read_metric(&n.url, node_bytes) - node_before, to_node);
    let client_before = read_metric(&n.url, client_bytes);
    let body = client()
        .get(format!("{}/v1/jobs", n.url))
        .bearer_auth(READ)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    // The /metrics read in between is a client's too.
    assert!(read_metric(&n.url, client_bytes) - client_before >= body.len() as f64);
    assert_eq!(read_metric(&n.url, node_bytes) - node_before, to_node);
}

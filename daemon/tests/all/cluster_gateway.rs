//! The gateway with real processes (docs/CLUSTER.md, "The gateway's
//! contract"): a real etcd and three `epochd serve --cluster` nodes, events
//! of the reference workload spread at random over them, the reference
//! job `count` on every node. Every epoch the gateway merges equals an
//! independent count of the events posted and what a fourth node, alone
//! and given every event, merges; a node killed with `kill -9` makes its
//! epochs partial, naming it; restarted on its data, it sends what it
//! held and corrections make every epoch whole again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use epochd_workload::{Workload, WorkloadConfig};
use serde_json::{json, Value};

use crate::support::{client, get_json, now, wait_until, Proc};

// The cluster crate's etcd for tests; not every part of it is used here.
#[path = "../../cluster/tests/all/etcd.rs"]
#[allow(dead_code)]
mod etcd;

const JOB: &str = "count";
const EVENTS_PER_EPOCH: usize = 300;

fn count_wasm() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wasm-jobs/out/count.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run wasm-jobs/build)", path.display()))
}

/// Submits `count` on one node; true when accepted (false: it is there).
fn submit(url: &str) -> bool {
    let form = reqwest::blocking::multipart::Form::new()
        .part(
            "manifest",
            reqwest::blocking::multipart::Part::bytes(
                json!({"name": JOB}).to_string().into_bytes(),
            ),
        )
        .part(
            "wasm",
            reqwest::blocking::multipart::Part::bytes(count_wasm()),
        );
    let answer = client()
        .post(format!("{url}/v1/jobs"))
        .multipart(form)
        .send()
        .unwrap();
    let status = answer.status().as_u16();
    assert!(
        status == 201 || status == 409,
        "{url}: {status} {}",
        answer.text().unwrap()
    );
    status == 201
}

fn has_job(url: &str) -> bool {
    client()
        .get(format!("{url}/v1/jobs/{JOB}"))
        .send()
        .is_ok_and(|r| r.status().is_success())
}

/// Puts `count` on every node: submitted on the first, the cluster's job
/// registry carries it to the others; a node it has not reached within
/// 10 s gets it directly (the one place to change once that is certain).
fn submit_everywhere(urls: &[String]) {
    submit(&urls[0]);
    for url in &urls[1..] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !has_job(url) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if !has_job(url) {
            submit(url);
        }
    }
}

/// A node of the cluster: its dir (kept for a restart) and process.
struct Node {
    dir: tempfile::TempDir,
    id: String,
    proc: Option<Proc>,
    url: String,
}

fn start(dir: &Path, id: &str, etcd: &str) -> (Proc, String) {
    Proc::serve_in_cluster(dir, etcd, "gw", id, &["--cluster-job-lead-secs", "1"])
}

fn cluster(etcd: &etcd::Etcd) -> Vec<Node> {
    (0..3)
        .map(|i| {
            let dir = tempfile::tempdir().unwrap();
            let id = format!("n{i}");
            let (proc, url) = start(dir.path(), &id, &etcd.endpoint());
            Node {
                dir,
                id,
                proc: Some(proc),
                url,
            }
        })
        .collect()
}

/// Counts per (type, subtype), and the dcs, of what was posted per epoch.
#[derive(Default)]
struct Posted {
    counts: BTreeMap<u64, BTreeMap<(String, String), u64>>,
    dcs: BTreeMap<u64, BTreeSet<String>>,
}

/// A small deterministic generator for the split.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn post(url: &str, body: Vec<u8>) {
    client()
        .post(format!("{url}/v1/events"))
        .header("content-type", "application/msgpack")
        .body(body)
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
}

/// Posts the current second's events, each to one of `to` at random and
/// all of them to `reference`, and returns the epoch.
fn post_epoch(
    w: &Workload,
    rng: &mut Rng,
    to: &[&str],
    reference: &str,
    posted: &mut Posted,
) -> u64 {
    let epoch = now();
    let mut bodies: Vec<Vec<u8>> = vec![Vec::new(); to.len()];
    let mut all = Vec::new();
    for e in w.epoch(epoch, EVENTS_PER_EPOCH) {
        let i = rng.below(to.len() as u64) as usize;
        e.write_msgpack(&mut bodies[i]);
        e.write_msgpack(&mut all);
        *posted
            .counts
            .entry(epoch)
            .or_default()
            .entry((e.kind().as_str().to_owned(), e.subtype().to_owned()))
            .or_default() += 1;
        posted
            .dcs
            .entry(epoch)
            .or_default()
            .insert(e.dc().to_owned());
    }
    for (url, body) in to.iter().zip(bodies) {
        if !body.is_empty() {
            post(url, body);
        }
    }
    post(reference, all);
    epoch
}

/// Polls `check` every 100 ms until it says nothing is wrong, or panics
/// after `secs` with what still was.
#[track_caller]
fn wait_for(secs: u64, what: &str, mut check: impl FnMut() -> Vec<String>) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let wrong = check();
        if wrong.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}, not within {secs} s:\n{}",
            wrong.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for the next second to begin, so each epoch is posted once.
fn next_second(after: u64) {
    wait_until(5, "the next second", || now() > after);
}

/// The gateway's range answer on `url`, by epoch.
fn merged(url: &str, from: u64, to: u64) -> BTreeMap<u64, Value> {
    let range: Value = get_json(&format!(
        "{url}/v1/cluster/jobs/{JOB}/results?from={from}&to={to}"
    ));
    range["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["epoch"].as_u64().unwrap(), e.clone()))
        .collect()
}

/// The single node's range answer, by epoch.
fn single(url: &str, from: u64, to: u64) -> BTreeMap<u64, Value> {
    let range: Value = get_json(&format!("{url}/v1/jobs/{JOB}/results?from={from}&to={to}"));
    range["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["epoch"].as_u64().unwrap(), e.clone()))
        .collect()
}

/// The first `n` events of the gateway's NDJSON stream of complete
/// versions from `from`.
fn stream_complete(url: &str, from: u64, n: usize) -> Vec<Value> {
    use std::io::BufRead;
    let response = client()
        .get(format!(
            "{url}/v1/cluster/jobs/{JOB}/results/stream?from={from}&format=ndjson&complete_only=true"
        ))
        .send()
        .unwrap()
        .error_for_status()
        .unwrap();
    let mut out = Vec::new();
    for line in std::io::BufReader::new(response).lines() {
        let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["type"] == "keep_alive" {
            continue;
        }
        out.push(event);
        if out.len() == n {
            break;
        }
    }
    out
}

/// `count`'s merged answer as counts per (type, subtype).
fn counts_of(merged: &Value) -> BTreeMap<(String, String), u64> {
    merged["counts"]
        .as_array()
        .unwrap_or_else(|| panic!("no counts in {merged}"))
        .iter()
        .map(|c| {
            (
                (
                    c["type"].as_str().unwrap().to_owned(),
                    c["subtype"].as_str().unwrap().to_owned(),
                ),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every epoch of `epochs` whose gateway answer is not complete and equal
/// to the posted counts and the single node's merge, said for a person.
fn mismatches(
    gateway: &BTreeMap<u64, Value>,
    reference: &BTreeMap<u64, Value>,
    posted: &Posted,
    epochs: &[u64],
) -> Vec<String> {
    let mut out = Vec::new();
    for epoch in epochs {
        let Some(g) = gateway.get(epoch) else {
            out.push(format!("{epoch}: not emitted"));
            continue;
        };
        if g["complete"] != true {
            out.push(format!("{epoch}: not complete: {}", g["missing"]));
            continue;
        }
        if counts_of(&g["merged"]) != posted.counts[epoch] {
            out.push(format!(
                "{epoch}: merged {} is not the count posted",
                g["merged"]
            ));
        }
        let total: u64 = posted.counts[epoch].values().sum();
        if g["merged"]["events"] != total {
            out.push(format!(
                "{epoch}: {} events merged, {total} posted",
                g["merged"]["events"]
            ));
        }
        match reference.get(epoch) {
            Some(r) if r["merged"] == g["merged"] => {}
            Some(r) => out.push(format!(
                "{epoch}: merged {} but one node merges {}",
                g["merged"], r["merged"]
            )),
            None => out.push(format!("{epoch}: the single node has no result")),
        }
        let dcs: BTreeSet<String> = g["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dc"].as_str().unwrap().to_owned())
            .collect();
        if dcs != posted.dcs[epoch] {
            out.push(format!(
                "{epoch}: parts from dcs {dcs:?}, events from {:?}",
                posted.dcs[epoch]
            ));
        }
    }
    out
}

/// What `epochd results get --cluster` prints of `epoch` (one line).
fn cli_results(url: &str, epoch: u64) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_epochd"))
        .args(["results", "get", JOB, "--cluster", "--url", url])
        .args(["--from", &epoch.to_string(), "--to", &epoch.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    text
}

#[test]
fn three_nodes_merge_like_one_and_a_killed_node_is_partial_then_corrected() {
    let etcd = etcd::Etcd::start();
    let mut nodes = cluster(&etcd);
    let ref_dir = tempfile::tempdir().unwrap();
    let (_reference, reference) = Proc::serve(ref_dir.path(), &[]);
    let urls: Vec<String> = nodes.iter().map(|n| n.url.clone()).collect();
    // Every node registered (a node answers HTTP before it is in etcd).
    for url in &urls {
        wait_until(15, "every node registered", || {
            let c: Value = get_json(&format!("{url}/v1/cluster"));
            c["nodes"].as_array().unwrap().len() == 3
        });
    }
    submit_everywhere(&urls);
    submit(&reference);
    // Jobs submitted in a cluster take effect a second ahead.
    let begin = now() + 2;
    wait_until(5, "the first epoch posted", || now() >= begin);

    // (a) Events spread over three nodes merge to what one node says.
    let w = Workload::new(WorkloadConfig::default());
    let mut rng = Rng(13);
    let mut posted = Posted::default();
    let to: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut whole = Vec::new();
    for _ in 0..12 {
        let epoch = post_epoch(&w, &mut rng, &to, &reference, &mut posted);
        whole.push(epoch);
        next_second(epoch);
    }
    let (first, last) = (whole[0], *whole.last().unwrap());
    let gateway = &nodes[0].url.clone();
    wait_for(
        30,
        "every epoch merged complete and equal to the reference",
        || {
            mismatches(
                &merged(gateway, first, last),
                &single(&reference, first, last),
                &posted,
                &whole,
            )
        },
    );
    assert!(whole.len() >= 10);
    // Another node's gateway says the same.
    assert!(mismatches(
        &merged(&nodes[1].url, first, last),
        &single(&reference, first, last),
        &posted,
        &whole
    )
    .is_empty());

    // The stream says the same: each epoch's latest complete version, in
    // epoch order, from ?from= on.
    let streamed = stream_complete(gateway, first, whole.len());
    let ranged = merged(gateway, first, last);
    assert_eq!(
        streamed
            .iter()
            .map(|e| e["epoch"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        whole
    );
    for e in &streamed {
        assert_eq!(e["complete"], true);
        assert_eq!(
            e["type"],
            if e["version"] == 1 {
                "epoch"
            } else {
                "correction"
            }
        );
        assert_eq!(e["merged"], ranged[&e["epoch"].as_u64().unwrap()]["merged"]);
    }

    // (b) kill -9 one node right after it took events: its epoch is
    // partial, naming it.
    let victim = nodes.pop().unwrap();
    let victim_id = victim.id.clone();
    let killed_epoch = post_epoch(&w, &mut rng, &to, &reference, &mut posted);
    let Node { dir, proc, .. } = victim;
    proc.unwrap().kill9();
    let mut after = vec![killed_epoch];
    next_second(killed_epoch);
    let alive: Vec<&str> = nodes.iter().map(|n| n.url.as_str()).collect();
    for _ in 0..4 {
        let epoch = post_epoch(&w, &mut rng, &alive, &reference, &mut posted);
        after.push(epoch);
        next_second(epoch);
    }
    let mut partial = Value::Null;
    // The documented wait: the job's deadline (1 s) plus 2 s once another
    // node closed the epoch; bounded here well above it.
    wait_until(20, "the killed node's epoch emitted partial", || {
        partial = merged(gateway, killed_epoch, killed_epoch)
            .remove(&killed_epoch)
            .unwrap_or(Value::Null);
        partial["version"].as_u64().is_some()
    });
    assert_eq!(partial["complete"], false, "{partial}");
    let missing: Vec<&str> = partial["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["node"].as_str().unwrap())
        .collect();
    assert_eq!(missing, [victim_id.as_str()], "{partial}");
    assert!(
        ["lease_gone", "unreachable", "timed_out"]
            .contains(&partial["missing"][0]["why"].as_str().unwrap()),
        "{partial}"
    );
    assert_eq!(partial["parts"]["expected"], 3, "{partial}");
    assert_eq!(partial["parts"]["received"], 2, "{partial}");
    // The command line says so too.
    let line = cli_results(gateway, killed_epoch);
    assert!(
        line.contains(&format!("PARTIAL (missing {victim_id} ")),
        "{line}"
    );

    // (c) Restarted on its data with its id: what it held comes in as
    // corrections, and every epoch is whole again.
    let (proc, url) = start(dir.path(), &victim_id, &etcd.endpoint());
    let _restarted = Node {
        dir,
        id: victim_id,
        proc: Some(proc),
        url,
    };
    let all: Vec<u64> = whole.iter().chain(&after).copied().collect();
    let (first, last) = (all[0], *all.last().unwrap());
    wait_for(
        40,
        "corrections make every epoch equal the reference",
        || {
            mismatches(
                &merged(gateway, first, last),
                &single(&reference, first, last),
                &posted,
                &all,
            )
        },
    );
    let fixed = merged(gateway, killed_epoch, killed_epoch)
        .remove(&killed_epoch)
        .unwrap();
    assert!(fixed["version"].as_u64().unwrap() >= 2, "{fixed}");
    assert_eq!(fixed["complete"], true);
    assert_eq!(fixed["missing"], json!([]));
    let line = cli_results(gateway, killed_epoch);
    assert!(
        !line.contains("PARTIAL") && line.contains(&format!(" v{} ", fixed["version"])),
        "{line}"
    );
    let corrections = crate::support::metric(gateway, "epochd_gateway_corrections_total").unwrap();
    assert!(corrections >= 1.0, "{corrections}");
}

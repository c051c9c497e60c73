//! Jobs in a cluster with real processes: three `epochd serve --cluster`
//! nodes on loopback and a real etcd. A job submitted on one node runs on
//! every node from its from_epoch (and on no epoch before); a pause or a
//! deletion made on another node stops it everywhere from its own epoch; a
//! node that starts later fetches the module from a holder; and etcd
//! killed under load loses no result, the nodes register again, and jobs
//! submitted afterwards reach every node.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use epochd_workload::{Format, Workload, WorkloadConfig};
use serde_json::{json, Value};

use crate::support::{client, now, wait_until, Proc};

// The cluster crate's etcd for tests; not every part of it is used here.
#[path = "../../cluster/tests/all/etcd.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod etcd;

/// Starts node `n<i>` of cluster `jobs`, its data and log in `dir`.
fn start(etcd: &etcd::Etcd, dir: &Path, i: usize) -> (Proc, String) {
    Proc::serve_in_cluster(dir, &etcd.endpoint(), "jobs", &format!("n{i}"), &[])
}

/// Nodes n0, n1 and n2 of cluster `jobs`: their directories, processes
/// and URLs.
fn three_nodes(etcd: &etcd::Etcd) -> (Vec<tempfile::TempDir>, Vec<(Proc, String)>, Vec<String>) {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<(Proc, String)> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| start(etcd, d.path(), i))
        .collect();
    let urls = nodes.iter().map(|(_, u)| u.clone()).collect();
    (dirs, nodes, urls)
}

/// GETs `url`: the status and the JSON answer.
fn get(url: &str) -> (u16, Value) {
    let answer = client().get(url).send().unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().unwrap_or(Value::Null))
}

/// Sends a request: the status and the JSON answer (`null` if none).
fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let answer = request.send().unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().unwrap_or(Value::Null))
}

/// Submits the reference `count` module as job `name` on `url`.
fn submit(url: &str, name: &str) -> (u16, Value) {
    let form = reqwest::blocking::multipart::Form::new()
        .part(
            "manifest",
            reqwest::blocking::multipart::Part::text(
                json!({"name": name, "deadline_ms": 5000}).to_string(),
            )
            .file_name("manifest.json"),
        )
        .part(
            "wasm",
            reqwest::blocking::multipart::Part::bytes(crate::jobs::wasm("count"))
                .file_name("count.wasm"),
        );
    send(client().post(format!("{url}/v1/jobs")).multipart(form))
}

/// The job `name` as `url`'s node shows it, if it has it.
fn job(url: &str, name: &str) -> Option<Value> {
    match get(&format!("{url}/v1/jobs/{name}")) {
        (200, job) => Some(job),
        _ => None,
    }
}

/// Waits, bounded, until every node shows job `name` with the cluster's
/// last change `state` from `from_epoch`.
fn wait_everywhere(urls: &[String], name: &str, state: &str, from_epoch: u64) {
    for url in urls {
        wait_until(
            30,
            &format!("{url} to show {name} {state} from {from_epoch}"),
            || {
                job(url, name).is_some_and(|j| {
                    j["cluster"]["state"] == state && j["cluster"]["from_epoch"] == from_epoch
                })
            },
        );
    }
}

/// Waits, bounded, until the node's clock is past `epoch` (so events of
/// `epoch` are in the past and may be posted and committed).
fn wait_past(epoch: u64) {
    wait_until(30, &format!("the clock to pass epoch {epoch}"), || {
        now() > epoch
    });
}

/// Posts `per_epoch` events of each epoch of `epochs` to `url`, waiting for
/// their commits; the events per epoch.
fn post(url: &str, epochs: std::ops::Range<u64>, per_epoch: usize) -> BTreeMap<u64, u64> {
    let workload = Workload::new(WorkloadConfig::default());
    let mut body = Vec::new();
    let mut posted = BTreeMap::new();
    for epoch in epochs {
        body.extend(workload.encode_epoch(epoch, per_epoch, Format::MsgPack));
        posted.insert(epoch, per_epoch as u64);
    }
    let (status, answer) = send(
        client()
            .post(format!("{url}/v1/events?wait=commit"))
            .header("content-type", "application/msgpack")
            .body(body),
    );
    assert_eq!(status, 200, "{answer}");
    posted
}

/// Events the `count` job counted per epoch on `url`'s node, from `from`
/// to `to`, summed over its results (every dc, every commit).
fn counted(url: &str, name: &str, from: u64, to: u64) -> BTreeMap<u64, u64> {
    let (status, range) = get(&format!("{url}/v1/jobs/{name}/results?from={from}&to={to}"));
    if status != 200 {
        return BTreeMap::new();
    }
    range["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let sum = e["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["result"]["events"].as_u64().unwrap_or(0))
                .sum();
            (e["epoch"].as_u64().unwrap(), sum)
        })
        .collect()
}

/// Waits, bounded, until `counted(url, name, from, to)` is `want`; says
/// what it was if it never is.
#[track_caller]
fn wait_counted(url: &str, name: &str, from: u64, to: u64, want: &BTreeMap<u64, u64>) {
    let mut got = BTreeMap::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        got = counted(url, name, from, to);
        if got == *want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{url}: {name} counted {got:?} in epochs {from}..={to}, not {want:?}");
}

/// The ids of the nodes `url`'s node lists.
fn members(url: &str) -> Vec<String> {
    let (status, cluster) = get(&format!("{url}/v1/cluster"));
    if status != 200 {
        return Vec::new();
    }
    let mut ids: Vec<String> = cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The first change's epoch of a job as the API answered it.
fn from_epoch(job: &Value) -> u64 {
    job["cluster"]["from_epoch"]
        .as_u64()
        .unwrap_or_else(|| panic!("no from_epoch in {job}"))
}

#[test]
fn a_job_runs_on_every_node_from_its_epoch_and_a_pause_or_delete_elsewhere_stops_it_everywhere() {
    let etcd = etcd::Etcd::start();
    let (_dirs, _nodes, urls) = three_nodes(&etcd);

    // Submitted on n0: every node has it, active from the same epoch.
    let (status, paused_job) = submit(&urls[0], "count-p");
    assert_eq!(status, 201, "{paused_job}");
    let (status, deleted_job) = submit(&urls[0], "count-d");
    assert_eq!(status, 201, "{deleted_job}");
    let (p0, d0) = (from_epoch(&paused_job), from_epoch(&deleted_job));
    assert_eq!(paused_job["cluster"]["state"], "active");
    assert_eq!(paused_job["cluster"]["changes"][0]["by_node"], "n0");
    wait_everywhere(&urls, "count-p", "active", p0);
    wait_everywhere(&urls, "count-d", "active", d0);
    // The name is taken cluster-wide: the same answer as a node alone.
    let (status, taken) = submit(&urls[2], "count-p");
    assert_eq!(status, 409, "{taken}");
    assert_eq!(taken["error"], "job_exists");

    // Events of epochs before and from its epoch, on every node: results
    // only from it on, on each node for what that node received.
    let first = p0.max(d0);
    wait_past(first + 2);
    for url in &urls {
        let posted = post(url, first - 3..first + 3, 40);
        for (name, from) in [("count-p", p0), ("count-d", d0)] {
            let want = from_on(&posted, from, u64::MAX);
            assert!(want.len() >= 3, "{want:?}");
            wait_counted(url, name, first - 3, first + 2, &want);
        }
    }

    // Paused on n1, deleted on n2: each stops everywhere from its epoch.
    let (status, paused) = send(client().post(format!("{}/v1/jobs/count-p/pause", urls[1])));
    assert_eq!(status, 200, "{paused}");
    let pause = from_epoch(&paused);
    assert_eq!(paused["cluster"]["state"], "paused");
    assert_eq!(paused["cluster"]["changes"][1]["by_node"], "n1");
    let (status, _) = send(client().delete(format!("{}/v1/jobs/count-d", urls[2])));
    assert_eq!(status, 204);
    let deleted = job(&urls[2], "count-d").expect("the deleted job stays until past its epoch");
    assert_eq!(deleted["cluster"]["state"], "deleted", "{deleted}");
    let delete = from_epoch(&deleted);
    wait_everywhere(&urls, "count-p", "paused", pause);
    wait_everywhere(&urls, "count-d", "deleted", delete);
    let (lo, hi) = (pause.min(delete) - 1, pause.max(delete) + 3);
    wait_past(hi);
    for url in &urls {
        let posted = post(url, lo..hi, 30);
        for (name, stop) in [("count-p", pause), ("count-d", delete)] {
            // The epochs before its stop still ran; none from it on.
            let want = from_on(&posted, 0, stop);
            assert!(!want.is_empty());
            wait_counted(url, name, lo, stop - 1, &want);
            assert_eq!(
                counted(url, name, stop, hi),
                BTreeMap::new(),
                "{url}: {name} ran from epoch {stop} on"
            );
        }
    }
    // The deleted job is gone from every node's list; the paused one stays.
    for url in &urls {
        wait_until(30, &format!("count-d to be gone from {url}"), || {
            get(&format!("{url}/v1/jobs")).1["jobs"]
                .as_array()
                .is_some_and(|jobs| jobs.iter().all(|j| j["name"] != "count-d"))
        });
        let p = job(url, "count-p").expect("the paused job stays");
        assert_eq!(p["state"], "paused", "{p}");
        // The deleted job's results of the epochs it ran stay (retention).
        assert_eq!(
            counted(url, "count-d", first - 3, first + 2),
            from_on(&posted_first(first), d0, u64::MAX)
        );
    }
}

/// What `posted` holds of epochs `from..to`.
fn from_on(posted: &BTreeMap<u64, u64>, from: u64, to: u64) -> BTreeMap<u64, u64> {
    posted
        .iter()
        .filter(|(e, _)| **e >= from && **e < to)
        .map(|(e, n)| (*e, *n))
        .collect()
}

/// The first batch of the first test: 40 events of each epoch around
/// `first`.
fn posted_first(first: u64) -> BTreeMap<u64, u64> {
    (first - 3..first + 3).map(|e| (e, 40)).collect()
}

#[test]
fn a_node_started_later_gets_the_job_and_its_module_from_a_holder() {
    let etcd = etcd::Etcd::start();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (n0, url0) = start(&etcd, dirs[0].path(), 0);
    let (n1, url1) = start(&etcd, dirs[1].path(), 1);
    let (status, submitted) = submit(&url0, "count");
    assert_eq!(status, 201, "{submitted}");
    let from = from_epoch(&submitted);
    wait_everywhere(&[url0.clone(), url1.clone()], "count", "active", from);
    // n1 fetched the module from n0 and holds it now.
    let sha = submitted["cluster"]["module_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = get(&format!("{url1}/v1/cluster/modules/{sha}"));
    assert_eq!(status, 200);
    let module = client()
        .get(format!("{url1}/v1/cluster/modules/{sha}"))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(module.as_ref(), crate::jobs::wasm("count").as_slice());
    let (status, missing) = get(&format!("{url1}/v1/cluster/modules/{}", "0".repeat(64)));
    assert_eq!(status, 404);
    assert_eq!(missing["error"], "no_such_module");

    // n0, the submitter, stops; n2 starts: it gets the module from n1.
    n0.stop();
    let (_n2, url2) = start(&etcd, dirs[2].path(), 2);
    wait_everywhere(std::slice::from_ref(&url2), "count", "active", from);
    // n1 stops; a second job is submitted on n2 meanwhile, and its epochs
    // pass. n1 then runs alone for a while on its data and takes events of
    // those epochs; back in the cluster, it hears of the job late, and runs
    // it over the epochs it already processed, from the job's epoch on.
    n1.stop();
    let (status, second) = submit(&url2, "count-2");
    assert_eq!(status, 201, "{second}");
    let second_from = from_epoch(&second);
    wait_past(second_from + 3);
    let (alone, alone_url) = Proc::serve(dirs[1].path(), &[]);
    let early = post(&alone_url, second_from - 1..second_from + 3, 35);
    alone.stop();
    let (_n1, url1) = start(&etcd, dirs[1].path(), 1);
    wait_everywhere(std::slice::from_ref(&url1), "count", "active", from);
    wait_everywhere(
        std::slice::from_ref(&url1),
        "count-2",
        "active",
        second_from,
    );
    let want = from_on(&early, second_from, u64::MAX);
    wait_counted(&url1, "count-2", second_from - 1, second_from + 2, &want);

    for url in [&url1, &url2] {
        let posted = post(url, from - 2..from + 2, 25);
        let mut want = from_on(&posted, from, u64::MAX);
        if *url == url1 {
            // What n1 took while alone counts too, where the epochs meet.
            for (epoch, n) in from_on(&early, from, from + 2) {
                *want.entry(epoch).or_default() += n;
            }
        }
        wait_counted(url, "count", from - 2, from + 1, &want);
    }
}

#[test]
fn etcd_killed_under_load_loses_no_result_and_the_nodes_come_back() {
    let mut etcd = etcd::Etcd::start();
    let (_dirs, _nodes, urls) = three_nodes(&etcd);
    let (status, submitted) = submit(&urls[0], "count");
    assert_eq!(status, 201, "{submitted}");
    let from = from_epoch(&submitted);
    wait_everywhere(&urls, "count", "active", from);
    wait_past(from);

    // One producer per node, each batch of a past epoch from `from` on,
    // counted once acknowledged.
    let running = Arc::new(AtomicBool::new(true));
    let producers: Vec<_> = urls
        .iter()
        .map(|url| {
            let (url, running) = (url.clone(), running.clone());
            std::thread::spawn(move || {
                let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
                while running.load(Ordering::Relaxed) {
                    let epoch = (now() - 1).max(from);
                    for (e, n) in post(&url, epoch..epoch + 1, 20) {
                        *acked.entry(e).or_default() += n;
                    }
                }
                acked
            })
        })
        .collect();

    // Some batches in, then etcd goes away: submissions are refused with
    // 503, the job keeps running.
    wait_until(30, "results while etcd is up", || {
        urls.iter()
            .all(|u| !counted(u, "count", from, now()).is_empty())
    });
    etcd.kill();
    let (status, refused) = submit(&urls[1], "count-during");
    assert_eq!(status, 503, "{refused}");
    assert_eq!(refused["error"], "etcd_unavailable");
    let during = now();
    wait_past(during + 1);
    etcd.restart();
    for url in &urls {
        wait_until(30, &format!("{url} to list all three nodes again"), || {
            members(url) == ["n0", "n1", "n2"]
        });
    }
    running.store(false, Ordering::Relaxed);
    let acked: Vec<BTreeMap<u64, u64>> = producers.into_iter().map(|p| p.join().unwrap()).collect();

    // Every acknowledged event is counted, on the node that took it.
    for (url, acked) in urls.iter().zip(&acked) {
        assert!(
            acked.keys().any(|e| *e >= during),
            "{url}: no batch during the outage"
        );
        let (lo, hi) = (*acked.keys().next().unwrap(), *acked.keys().last().unwrap());
        wait_counted(url, "count", lo, hi, acked);
    }

    // A job submitted after the restart reaches every node.
    let (status, after) = submit(&urls[2], "count-after");
    assert_eq!(status, 201, "{after}");
    wait_everywhere(&urls, "count-after", "active", from_epoch(&after));
}

//! Cluster mode with real processes: three `epochd serve --cluster` nodes
//! on loopback and a real etcd. Each node sees the others; a node killed
//! with `kill -9` drops out after its lease, and the others stay.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{get_json, wait_until, Proc};

// The cluster crate's etcd for tests; not every part of it is used here.
#[path = "../../cluster/tests/all/etcd.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod etcd;

/// The ids of the nodes `url`'s node lists as registered.
fn ids(url: &str) -> Vec<String> {
    registered(&get_json(&format!("{url}/v1/cluster")))
}

/// The ids of the nodes a `GET /v1/cluster` answer lists as registered
/// (not those whose lease is gone), sorted.
pub(crate) fn registered(cluster: &Value) -> Vec<String> {
    let mut ids: Vec<String> = cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] != "lease_gone")
        .map(|n| n["node_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn three_nodes_see_each_other_and_a_killed_one_drops_out() {
    let etcd = etcd::Etcd::start();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<(Proc, String)> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            Proc::serve_in_cluster(dir.path(), &etcd.endpoint(), "test", &format!("n{i}"), &[])
        })
        .collect();
    // A node answers HTTP before its registration is in etcd: wait, bounded.
    let deadline = Instant::now() + Duration::from_secs(15);
    for (_, url) in &nodes {
        while ids(url) != ["n0", "n1", "n2"] {
            assert!(
                Instant::now() < deadline,
                "{url} sees {:?} 15 s after start",
                ids(url)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let me: Value = get_json(&format!("{}/v1/cluster", nodes[1].1));
    assert_eq!(me["node_id"], "n1");
    assert_eq!(me["registered"], true);
    let n1 = me["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "n1")
        .unwrap();
    assert_eq!(
        n1["url"],
        nodes[1].1.as_str(),
        "a node registers the URL it listens on"
    );

    // Each node's gateway reads every node: all live, each with the epoch
    // it has closed through, and so says `epochd cluster status`.
    for (_, url) in &nodes {
        wait_until(15, "every node live and closing epochs", || {
            let cluster: Value = get_json(&format!("{url}/v1/cluster"));
            cluster["nodes"].as_array().unwrap().iter().all(|n| {
                n["state"] == "live"
                    && n["closed_through"]
                        .as_u64()
                        .is_some_and(|c| c > 1_600_000_000)
            })
        });
    }
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_epochd"))
        .args(["cluster", "status", "--url", &nodes[0].1])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        text.starts_with("cluster test, seen from n0 (registered"),
        "{text}"
    );
    for id in ["n0", "n1", "n2"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(id) && l.contains(" live ")),
            "{id} not listed live:\n{text}"
        );
    }

    let mut nodes = nodes;
    let (victim, _) = nodes.pop().unwrap();
    let killed = Instant::now();
    victim.kill9();
    let deadline = Instant::now() + Duration::from_secs(15);
    while ids(&nodes[0].1) != ["n0", "n1"] {
        assert!(
            Instant::now() < deadline,
            "n2 still listed 15 s after kill -9"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        killed.elapsed() >= Duration::from_millis(1500),
        "dropped before its lease ran out"
    );
    assert_eq!(ids(&nodes[1].1), ["n0", "n1"]);
    // The others still show it, as gone: its epochs may be partial.
    let cluster: Value = get_json(&format!("{}/v1/cluster", nodes[0].1));
    let gone = cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "n2")
        .expect("n2 still shown");
    assert_eq!(gone["state"], "lease_gone");
    assert!(gone["closed_through"].is_u64(), "{gone}");
}

#[test]
fn a_node_alone_says_so_and_a_cluster_without_a_node_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, url) = Proc::serve(dir.path(), &[]);
    let answer = crate::support::client()
        .get(format!("{url}/v1/cluster"))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 404);
    let body: Value = answer.json().unwrap();
    assert_eq!(body["error"], "no_cluster");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_epochd"))
        .args([
            "serve",
            "--no-auth",
            "--listen",
            "127.0.0.1:0",
            "--no-cgroups",
        ])
        .arg("--data")
        .arg(dir.path().join("other"))
        .args(["--cluster", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--cluster needs --node-id"), "{stderr}");
}

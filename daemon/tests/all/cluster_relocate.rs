//! Low-level placement with real processes: three `epochd serve --cluster`
//! nodes and a real etcd, a placement over the three, and the relocator
//! library sending one epoch of two data centers: each node commits
//! exactly the chunks the table gives it, together they hold every chunk
//! once, a retry commits nothing twice, and an owner that is not live
//! stops a relocation before anything is sent.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use epochd_cluster::{range_of, ClusterError, Placement, RelocatedChunk, Relocator};
use epochd_store::{compress, decompress, split_events, Manifest, Upload};
use epochd_workload::{Format, Workload, WorkloadConfig};
use serde_json::Value;

use crate::support::{client, now, Proc};

// The cluster crate's etcd for tests; not every part of it is used here.
// `cluster.rs` loads it too, as a private module of its own.
#[path = "../../cluster/tests/all/etcd.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod etcd;

const TOKEN: &str = "relocate-admin-token-0123456789";
const DCS: [&str; 2] = ["ams4", "ams5"];

/// GETs `url` with the admin token; its JSON, or the status if not 200.
fn get(url: &str) -> Result<Value, u16> {
    let answer = client().get(url).bearer_auth(TOKEN).send().unwrap();
    match answer.status().as_u16() {
        200 => Ok(answer.json().unwrap()),
        status => Err(status),
    }
}

/// The ids of the nodes `url`'s node lists as registered.
fn ids(url: &str) -> Vec<String> {
    crate::cluster::registered(&get(&format!("{url}/v1/cluster")).unwrap())
}

/// Waits, bounded, until `url`'s node lists exactly `want`.
fn wait_for_members(url: &str, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ids(url) != want {
        assert!(
            Instant::now() < deadline,
            "{url} lists {:?}, not {want:?}, after 30 s",
            ids(url)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A chunk's key within its (epoch, dc).
type ChunkId = (String, Option<String>, u32);

/// The workload's events of `epoch` in `dcs`, cut into chunks of at most
/// `per_chunk` events per (type, subtype), numbered from 0: many chunks, so
/// every node owns some.
fn chunks_of(epoch: u64, per_chunk: usize) -> BTreeMap<String, Vec<RelocatedChunk>> {
    let events = Workload::new(WorkloadConfig::default()).encode_epoch(epoch, 600, Format::MsgPack);
    let mut out = BTreeMap::new();
    for upload in Upload::group(&events, 0, "local", 3).unwrap() {
        let Upload { chunks, manifest } = upload;
        if !DCS.contains(&manifest.dc.as_str()) {
            continue;
        }
        let mut relocated = Vec::new();
        for (key, blob) in chunks {
            let raw = decompress(&blob).unwrap();
            let events: Vec<&[u8]> = split_events(&raw).map(|e| e.unwrap()).collect();
            for (number, group) in events.chunks(per_chunk).enumerate() {
                relocated.push(RelocatedChunk {
                    event_type: key.event_type.clone(),
                    subtype: key.subtype.clone(),
                    chunk: number as u32,
                    events: group.len() as u64,
                    bytes: compress(&group.concat(), 3),
                });
            }
        }
        out.insert(manifest.dc, relocated);
    }
    assert_eq!(out.len(), 2, "the workload has events in {DCS:?}");
    out
}

/// The chunks a node's manifest of (epoch, dc, 0) lists, or none.
fn committed_chunks(url: &str, epoch: u64, dc: &str) -> BTreeSet<ChunkId> {
    match get(&format!("{url}/v1/manifests/{epoch}/{dc}/0")) {
        Ok(manifest) => {
            let manifest: Manifest = serde_json::from_value(manifest).unwrap();
            manifest
                .chunks
                .into_iter()
                .map(|c| (c.event_type, c.subtype, c.chunk))
                .collect()
        }
        Err(404) => BTreeSet::new(),
        Err(status) => panic!("GET manifest from {url}: {status}"),
    }
}

#[test]
fn relocated_chunks_land_on_their_owners_and_nowhere_else() {
    let etcd = etcd::Etcd::start();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<(Proc, String)> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            Proc::serve_in_cluster(
                dir.path(),
                &etcd.endpoint(),
                "test",
                &format!("n{i}"),
                &["--admin-token", TOKEN],
            )
        })
        .collect();
    // A node answers HTTP before its registration is in etcd.
    for (_, url) in &nodes {
        wait_for_members(url, &["n0", "n1", "n2"]);
    }
    let url_of: BTreeMap<String, String> = nodes
        .iter()
        .enumerate()
        .map(|(i, (_, url))| (format!("n{i}"), url.clone()))
        .collect();

    let epoch = now() - 30;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let etcd_client = runtime
        .block_on(epochd_cluster::connect(&[etcd.endpoint()]))
        .unwrap();
    let placement = Placement::new(etcd_client.clone(), "test").unwrap();
    let ids: Vec<String> = url_of.keys().cloned().collect();
    let (table, _) = runtime
        .block_on(placement.propose(&ids, epoch - 100, 0))
        .unwrap();
    let relocator = Relocator::new(etcd_client, "test")
        .unwrap()
        .with_token(TOKEN);

    let chunks = chunks_of(epoch, 4);
    // What the table says each node gets, per dc: its chunks and events.
    let mut expected: BTreeMap<(String, String), (BTreeSet<ChunkId>, u64)> = BTreeMap::new();
    for (dc, list) in &chunks {
        for c in list {
            let subtype = c.subtype.as_deref().unwrap_or("-");
            let range = range_of(epoch, dc, &c.event_type, subtype, c.chunk);
            let owner = table.owner(epoch, range).unwrap().to_owned();
            let entry = expected.entry((owner, dc.clone())).or_default();
            entry
                .0
                .insert((c.event_type.clone(), c.subtype.clone(), c.chunk));
            entry.1 += c.events;
        }
    }
    for node in &ids {
        assert!(
            DCS.iter()
                .any(|dc| expected.contains_key(&(node.clone(), (*dc).to_owned()))),
            "{node} owns none of {} chunks",
            chunks.values().map(Vec::len).sum::<usize>()
        );
    }

    for (dc, list) in &chunks {
        let report = runtime
            .block_on(relocator.place(epoch, dc, 0, list.clone()))
            .unwrap();
        assert_eq!(report.placement_version, 1);
        for commit in &report.nodes {
            assert!(commit.created, "{} committed anew", commit.node_id);
            assert_eq!(commit.url, url_of[&commit.node_id]);
            let (want, events) = &expected[&(commit.node_id.clone(), dc.clone())];
            assert_eq!(commit.events, *events);
            assert_eq!(commit.chunks.len(), want.len());
        }
    }

    // Each node holds what the table gives it, nothing more.
    let mut union: Vec<(String, ChunkId)> = Vec::new();
    for (node, url) in &url_of {
        let listed = get(&format!("{url}/v1/commits?from={epoch}&to={epoch}")).unwrap();
        let mut commits: Vec<(String, u64, u64)> = listed["commits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["seq"], 0);
                (
                    c["dc"].as_str().unwrap().to_owned(),
                    c["events"].as_u64().unwrap(),
                    c["chunks"].as_u64().unwrap(),
                )
            })
            .collect();
        commits.sort();
        let mut want: Vec<(String, u64, u64)> = expected
            .iter()
            .filter(|((owner, _), _)| owner == node)
            .map(|((_, dc), (set, events))| (dc.clone(), *events, set.len() as u64))
            .collect();
        want.sort();
        assert_eq!(commits, want, "{node}'s commits of epoch {epoch}");
        for dc in DCS {
            let held = committed_chunks(url, epoch, dc);
            let want = expected
                .get(&(node.clone(), dc.to_owned()))
                .map(|(set, _)| set.clone())
                .unwrap_or_default();
            assert_eq!(held, want, "{node}'s chunks of {dc}");
            union.extend(held.into_iter().map(|c| (dc.to_owned(), c)));
        }
    }
    let all: BTreeSet<(String, ChunkId)> = chunks
        .iter()
        .flat_map(|(dc, list)| {
            list.iter().map(|c| {
                (
                    dc.clone(),
                    (c.event_type.clone(), c.subtype.clone(), c.chunk),
                )
            })
        })
        .collect();
    assert_eq!(union.len(), all.len(), "no chunk is on two nodes");
    assert_eq!(
        union.into_iter().collect::<BTreeSet<_>>(),
        all,
        "every chunk is somewhere"
    );

    // A retry is accepted as it is and commits nothing twice.
    let listing = |epoch: u64| -> Vec<Value> {
        url_of
            .values()
            .map(|url| get(&format!("{url}/v1/commits?from={epoch}&to={epoch}")).unwrap())
            .collect()
    };
    let before = listing(epoch);
    for (dc, list) in &chunks {
        let report = runtime
            .block_on(relocator.place(epoch, dc, 0, list.clone()))
            .unwrap();
        assert!(!report.nodes.is_empty());
        assert!(report.nodes.iter().all(|c| !c.created), "{report:?}");
    }
    assert_eq!(listing(epoch), before, "the same commits, digests and all");

    // Other chunks under a committed key: the node whose share differs
    // refuses its manifest (chunks and manifests are immutable), the others
    // accept theirs as they are, and the error says which is which.
    let mut fewer = chunks["ams4"].clone();
    let dropped = fewer.pop().unwrap();
    let dropped_owner = table
        .owner(
            epoch,
            range_of(
                epoch,
                "ams4",
                &dropped.event_type,
                dropped.subtype.as_deref().unwrap_or("-"),
                dropped.chunk,
            ),
        )
        .unwrap()
        .to_owned();
    match runtime.block_on(relocator.place(epoch, "ams4", 0, fewer)) {
        Err(ClusterError::RelocationIncomplete {
            committed, failed, ..
        }) => {
            assert!(!committed.contains(&dropped_owner), "{committed:?}");
            assert_eq!(failed.len(), 1, "{failed:?}");
            assert!(
                failed[0].starts_with(&format!("{dropped_owner}: ")),
                "{failed:?}"
            );
            assert!(failed[0].contains("manifest_conflict"), "{failed:?}");
        }
        other => panic!("expected RelocationIncomplete, got {other:?}"),
    }
    assert_eq!(listing(epoch), before, "nothing changed");

    // An owner that is not live: refused before anything is sent.
    let (victim, _) = nodes.pop().unwrap();
    victim.kill9();
    wait_for_members(&url_of["n0"], &["n0", "n1"]);
    let later = epoch + 1;
    let source = chunks["ams4"][0].clone();
    let subtype = source.subtype.clone().unwrap_or_else(|| "-".into());
    let range_of_number = |n: u32| range_of(later, "ams4", &source.event_type, &subtype, n);
    let number_owned_by = |node: &str| {
        (0..)
            .find(|n| table.owner(later, range_of_number(*n)) == Some(node))
            .unwrap()
    };
    let (chunk_of_n0, chunk_of_n2) = (number_owned_by("n0"), number_owned_by("n2"));
    let lone = |chunk: u32| RelocatedChunk {
        chunk,
        ..source.clone()
    };
    let refused = runtime.block_on(relocator.place(
        later,
        "ams4",
        0,
        vec![lone(chunk_of_n0), lone(chunk_of_n2)],
    ));
    match refused {
        Err(ClusterError::OwnerNotLive { node, range }) => {
            assert_eq!(node, "n2");
            assert_eq!(range, range_of_number(chunk_of_n2));
        }
        other => panic!("expected OwnerNotLive, got {other:?}"),
    }
    for (_, url) in &nodes {
        let listed = get(&format!("{url}/v1/commits?from={later}&to={later}")).unwrap();
        assert_eq!(listed["commits"], Value::Array(vec![]), "nothing was sent");
    }
    let chunk_url = format!(
        "{}/v1/chunks/{later}/ams4/{}/{subtype}/{chunk_of_n0}",
        url_of["n0"], source.event_type
    );
    assert_eq!(get(&chunk_url).err(), Some(404), "not even a chunk");
}

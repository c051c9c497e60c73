//! The conformance suite's cluster case (sdk/ABI.md, "Conformance";
//! docs/CLUSTER.md, "The gateway's contract"): each dc's events of an epoch
//! are split at random over three nodes, as a cluster's ingest spreads
//! them; every node runs every language's module of the reference jobs on
//! its own part; the parts are folded with the job's merge in the
//! gateway's order (dc, node, seq). For every language, job and epoch the
//! result must equal what one node given all the events merges (within
//! the suite's one tolerance: the form of a JSON float).
//!
//! Runs by the real daemon in process (`Daemon::process` per commit), each
//! node with its own store on a temp dir.

use std::collections::BTreeMap;

use epochd::pipeline::{Daemon, Processed};
use epochd::registry::JobManifest;
use epochd::results::{Outcome, ResultRecord};
use epochd_decode::EpochMeta;
use epochd_store::Format;
use epochd_workload::{Format as WorkloadFormat, Workload, WorkloadConfig};

use crate::conformance::{modules_of, odd_events, same_result, text, wat_job, Rng, REFERENCE_JOBS};
use crate::jobs::{node, Node};
use crate::support::now;

/// Nodes the events are spread over.
const NODES: usize = 3;
const EPOCHS: u64 = 5;
const EVENTS_PER_EPOCH: usize = 800;

/// Registers every language's module of every reference job, and the wat
/// job, on `node`; returns the job names.
fn register_all(node: &Node) -> Vec<String> {
    let mut names = Vec::new();
    for job in REFERENCE_JOBS {
        for (lang, path) in modules_of(job) {
            let name = format!("{job}-{lang}");
            let wasm = std::fs::read(&path).unwrap();
            node.daemon
                .registry()
                .submit(JobManifest::new(&name), &wasm)
                .unwrap_or_else(|e| panic!("{}: refused: {e}", path.display()));
            names.push(name);
        }
    }
    node.daemon
        .registry()
        .submit(JobManifest::new("wallclock-sum-wat"), &wat_job())
        .unwrap();
    names.push("wallclock-sum-wat".into());
    names
}

/// Seals what `node` holds and runs every job on each of its commits.
fn process_all(rt: &tokio::runtime::Runtime, node: &Node) -> Vec<ResultRecord> {
    node.store.seal_all().unwrap();
    let notices: Vec<_> = node.store.outbox().pending().map(Result::unwrap).collect();
    rt.block_on(async {
        let mut out = Vec::new();
        for n in &notices {
            match node.daemon.process(n).await.unwrap() {
                Processed::Done(records) => out.extend(records),
                Processed::Gone => panic!("commit {n:?} is gone"),
            }
        }
        out
    })
}

/// `records` of `job` in `epoch` folded by the job's merge, in the order
/// given; `None` when there is nothing to fold.
fn fold(daemon: &Daemon, job: &str, epoch: u64, records: &[&ResultRecord]) -> Option<Vec<u8>> {
    let j = daemon.registry().get(job).unwrap();
    let limits = j.manifest.limits();
    let meta = EpochMeta {
        epoch,
        dc: String::new(),
        seq: 0,
    };
    let mut results = records.iter().map(|r| match &r.outcome {
        Outcome::Ok { result } => result.clone(),
        Outcome::Error { kind, message } => {
            panic!("{job} failed on {}/{}: {kind}: {message}", r.epoch, r.dc)
        }
    });
    let mut acc = results.next()?;
    for next in results {
        let report = j
            .module
            .merge(&limits, &meta, &acc, &next, j.manifest.config.as_bytes());
        acc = report
            .outcome
            .unwrap_or_else(|e| panic!("{job}: merge failed in epoch {epoch}: {e}"));
    }
    Some(acc)
}

#[test]
fn every_language_merges_parts_split_over_nodes_as_one_node_does() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let single = node(2, false);
    let cluster: Vec<Node> = (0..NODES).map(|_| node(2, false)).collect();
    let names = register_all(&single);
    for n in &cluster {
        assert_eq!(register_all(n), names);
    }

    // Each event of each epoch goes whole to the single node, and to one
    // node of the cluster drawn at random: every dc's events are split.
    let mut rng = Rng(0x5eed_c1a5_7e20_2612);
    let w = Workload::new(WorkloadConfig::default());
    let first = now() - 300;
    let mut spread = [0usize; NODES];
    for epoch in first..first + EPOCHS {
        let mut all = w.encode_epoch(epoch, EVENTS_PER_EPOCH, WorkloadFormat::MsgPack);
        for event in odd_events(epoch) {
            all.extend(rmp_serde::to_vec_named(&event).unwrap());
        }
        single.store.ingest(&all, Format::MsgPack).unwrap();
        let mut parts: Vec<Vec<u8>> = vec![Vec::new(); NODES];
        for event in epochd_store::split_events(&all) {
            let to = rng.below(NODES);
            parts[to].extend_from_slice(event.unwrap());
            spread[to] += 1;
        }
        for (node, part) in cluster.iter().zip(&parts) {
            if !part.is_empty() {
                node.store.ingest(part, Format::MsgPack).unwrap();
            }
        }
    }
    assert!(
        spread.iter().all(|&n| n > 0),
        "every node holds a part: {spread:?}"
    );

    let single_records = process_all(&rt, &single);
    // (node index, record) for every part of the cluster.
    let parts: Vec<(usize, ResultRecord)> = cluster
        .iter()
        .enumerate()
        .flat_map(|(i, n)| process_all(&rt, n).into_iter().map(move |r| (i, r)))
        .collect();
    // Every (epoch, dc) is split over more than one node somewhere.
    let mut holders: BTreeMap<(u64, &str), std::collections::BTreeSet<usize>> = BTreeMap::new();
    for (i, r) in &parts {
        holders
            .entry((r.epoch, r.dc.as_str()))
            .or_default()
            .insert(*i);
    }
    assert!(
        holders.values().filter(|h| h.len() > 1).count() >= EPOCHS as usize,
        "dcs split over several nodes: {holders:?}"
    );

    let mut compared = 0usize;
    let mut float_forms = 0usize;
    for job in &names {
        if !single
            .daemon
            .registry()
            .get(job)
            .unwrap()
            .module
            .has_merge()
        {
            continue;
        }
        for epoch in first..first + EPOCHS {
            // One node: its (dc, seq) fold.
            let mut one: Vec<&ResultRecord> = single_records
                .iter()
                .filter(|r| &r.job == job && r.epoch == epoch)
                .collect();
            one.sort_by(|a, b| (&a.dc, a.seq).cmp(&(&b.dc, b.seq)));
            let one = fold(&single.daemon, job, epoch, &one).expect("the epoch has results");
            // The cluster: the gateway's (dc, node, seq) fold of the parts.
            let mut split: Vec<&(usize, ResultRecord)> = parts
                .iter()
                .filter(|(_, r)| &r.job == job && r.epoch == epoch)
                .collect();
            split.sort_by(|(a_node, a), (b_node, b)| {
                (&a.dc, a_node, a.seq).cmp(&(&b.dc, b_node, b.seq))
            });
            let split: Vec<&ResultRecord> = split.iter().map(|(_, r)| r).collect();
            let merged = fold(&cluster[0].daemon, job, epoch, &split).unwrap();
            let same = same_result(&merged, &one);
            assert!(
                same.is_some(),
                "{job}, epoch {epoch}: the merge of {} parts over {NODES} nodes differs from one \
                 node's:\n  cluster: {}\n  one node: {}",
                split.len(),
                text(&merged),
                text(&one)
            );
            float_forms += usize::from(same == Some(false));
            compared += 1;
        }
    }
    assert!(
        compared >= REFERENCE_JOBS.len() * EPOCHS as usize,
        "{compared} merged epochs compared"
    );
    eprintln!(
        "conformance (cluster): {compared} merged epochs of {} modules equal one node's over \
         {NODES} nodes ({float_forms} only after rewriting floats); events per node {spread:?}",
        names.len()
    );
}

//! The job registry on a real etcd: submissions, changes from epochs, and
//! tombstones that vanish (watches: `jobs_watch.rs`).

use std::time::Duration;

use epochd_cluster::{job_key, ClusterError, ClusterJob, JobEvent, JobRegistry, JobState};
use serde_json::json;

use crate::etcd::Etcd;
use crate::support::{client, next_change};

pub const SHA_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const SHA_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

pub async fn registry(etcd: &Etcd) -> JobRegistry {
    JobRegistry::new(client(etcd).await, "test").unwrap()
}

pub fn manifest(name: &str) -> serde_json::Value {
    json!({"name": name, "types": ["WEB"]})
}

pub fn states(job: &ClusterJob) -> Vec<(u64, JobState)> {
    job.changes
        .iter()
        .map(|c| (c.from_epoch, c.state))
        .collect()
}

/// Expects a `Put` of `name` and returns it with its revision.
pub fn put_of(event: JobEvent, name: &str) -> (ClusterJob, i64) {
    match event {
        JobEvent::Put { job, revision } if job.name == name => (job, revision),
        other => panic!("expected a put of {name}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_job_is_submitted_once_and_again_only_after_its_deletion() {
    let etcd = Etcd::start();
    let jobs = registry(&etcd).await;
    let job = jobs
        .submit("count", SHA_A, manifest("count"), 100, "n1")
        .await
        .unwrap();
    assert_eq!(states(&job), [(100, JobState::Active)]);
    assert_eq!(jobs.get("count").await.unwrap(), Some(job.clone()));
    assert_eq!(jobs.get("other").await.unwrap(), None);

    let again = jobs
        .submit("count", SHA_B, manifest("count"), 200, "n2")
        .await;
    assert!(
        matches!(&again, Err(ClusterError::JobExists { name }) if name == "count"),
        "{again:?}"
    );
    assert_eq!(jobs.get("count").await.unwrap(), Some(job), "untouched");

    jobs.change("count", JobState::Deleted, 150, Some("done".into()), "n1")
        .await
        .unwrap();
    let tombstone = jobs.get("count").await.unwrap().unwrap();
    assert!(tombstone.is_deleted());
    assert_eq!(tombstone.state_at(149), Some(JobState::Active));
    assert_eq!(tombstone.state_at(150), Some(JobState::Deleted));
    // Deleted: no more changes, and a new job may not start before it ended.
    let paused = jobs
        .change("count", JobState::Paused, 160, None, "n1")
        .await;
    assert!(
        matches!(paused, Err(ClusterError::JobNotFound { .. })),
        "{paused:?}"
    );
    let early = jobs
        .submit("count", SHA_B, manifest("count"), 140, "n2")
        .await;
    assert!(
        matches!(
            early,
            Err(ClusterError::EpochBackwards {
                from_epoch: 140,
                last: 150,
                ..
            })
        ),
        "{early:?}"
    );
    let replaced = jobs
        .submit("count", SHA_B, manifest("count"), 160, "n2")
        .await
        .unwrap();
    assert_eq!(replaced.module_sha256, SHA_B);
    assert_eq!(states(&replaced), [(160, JobState::Active)]);
    // The new job is not under the tombstone's lease: it does not vanish.
    let kv = client(&etcd)
        .await
        .get(job_key("test", "count"), None)
        .await
        .unwrap();
    assert_eq!(kv.kvs()[0].lease(), 0);

    let bad = jobs.submit("Count!", SHA_A, manifest("x"), 1, "n1").await;
    assert!(matches!(bad, Err(ClusterError::BadName { .. })), "{bad:?}");
    let bad = jobs.submit("x", "ABC", manifest("x"), 1, "n1").await;
    assert!(
        matches!(bad, Err(ClusterError::BadModuleHash { .. })),
        "{bad:?}"
    );
}

#[tokio::test]
async fn changes_append_and_never_go_back_in_epochs() {
    let etcd = Etcd::start();
    let jobs = registry(&etcd).await;
    jobs.submit("count", SHA_A, manifest("count"), 100, "n1")
        .await
        .unwrap();
    jobs.change(
        "count",
        JobState::Paused,
        120,
        Some("maintenance".into()),
        "n2",
    )
    .await
    .unwrap();
    // The same epoch as the last change: allowed, and it wins at that epoch.
    jobs.change("count", JobState::Active, 120, None, "n1")
        .await
        .unwrap();
    let back = jobs
        .change("count", JobState::Paused, 119, None, "n1")
        .await;
    match back {
        Err(e @ ClusterError::EpochBackwards { .. }) => {
            let text = e.to_string();
            assert!(text.contains("119") && text.contains(">= 120"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let job = jobs.get("count").await.unwrap().unwrap();
    assert_eq!(
        states(&job),
        [
            (100, JobState::Active),
            (120, JobState::Paused),
            (120, JobState::Active)
        ]
    );
    assert_eq!(job.changes[1].reason.as_deref(), Some("maintenance"));
    assert_eq!(job.changes[1].by_node, "n2");
    assert_eq!(job.state_at(99), None);
    assert_eq!(job.state_at(119), Some(JobState::Active));
    assert_eq!(job.state_at(120), Some(JobState::Active));

    let missing = jobs.change("nope", JobState::Paused, 1, None, "n1").await;
    assert!(
        matches!(missing, Err(ClusterError::JobNotFound { .. })),
        "{missing:?}"
    );

    // Writers at the same time: each change lands, none overwrites another.
    let writers: Vec<_> = (0..5)
        .map(|i| {
            let jobs = jobs.clone();
            tokio::spawn(async move {
                let state = if i % 2 == 0 {
                    JobState::Paused
                } else {
                    JobState::Active
                };
                jobs.change("count", state, 200, Some(format!("w{i}")), "n1")
                    .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let job = jobs.get("count").await.unwrap().unwrap();
    let mut reasons: Vec<String> = job.changes[3..]
        .iter()
        .map(|c| c.reason.clone().unwrap())
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["w0", "w1", "w2", "w3", "w4"]);
}

#[tokio::test]
async fn a_tombstone_vanishes_when_its_lease_expires() {
    let etcd = Etcd::start();
    let jobs = registry(&etcd)
        .await
        .with_tombstone_ttl(Duration::from_secs(2));
    let mut watch = jobs.watch(0);
    assert!(matches!(
        next_change(&mut watch, 30).await,
        JobEvent::Resync { .. }
    ));
    jobs.submit("a", SHA_A, manifest("a"), 1, "n1")
        .await
        .unwrap();
    jobs.change("a", JobState::Deleted, 9, None, "n1")
        .await
        .unwrap();
    put_of(next_change(&mut watch, 30).await, "a");
    let (tombstone, _) = put_of(next_change(&mut watch, 30).await, "a");
    assert_eq!(tombstone.state_at(9), Some(JobState::Deleted));
    assert!(
        jobs.get("a").await.unwrap().is_some(),
        "the tombstone stands for now"
    );
    // etcd expires leases on its own clock (and may round a TTL up): wait,
    // bounded, for the removal.
    match next_change(&mut watch, 60).await {
        JobEvent::Removed { name, .. } => assert_eq!(name, "a"),
        other => panic!("{other:?}"),
    }
    assert_eq!(jobs.get("a").await.unwrap(), None);
    assert!(jobs.list().await.unwrap().0.is_empty());
}

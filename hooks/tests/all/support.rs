//! Shared builders and assertions.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use epochd_hooks::{
    CommitNotice, Delivery, DispatchOptions, DispatchStats, Dispatcher, HookError, Outbox,
    Receiver, Wake, NOTICE_VERSION,
};
use sled::transaction::ConflictableTransactionError;
use tokio::task::JoinHandle;

/// How long any single expected event may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn notice(commit_id: u64) -> CommitNotice {
    CommitNotice {
        version: NOTICE_VERSION,
        commit_id,
        epoch: 1_700_000_000 + commit_id,
        dc: "ams".into(),
        seq: 0,
        manifest_digest: format!("{commit_id:032x}"),
        node: "node-1".into(),
        events: 100 * commit_id,
        chunks: 1,
        committed_at_ms: 0,
    }
}

/// Stages each id in its own transaction, as the store commits, then flushes.
pub fn stage(db: &sled::Db, outbox: &Outbox, ids: impl IntoIterator<Item = u64>) {
    for id in ids {
        let n = notice(id);
        outbox
            .tree()
            .transaction(|tx| {
                Outbox::stage(tx, &n)?;
                Ok::<_, ConflictableTransactionError>(())
            })
            .unwrap();
    }
    db.flush().unwrap();
}

/// The ids left in the outbox, oldest first.
pub fn pending_ids(outbox: &Outbox) -> Vec<u64> {
    outbox.pending().map(|n| n.unwrap().commit_id).collect()
}

/// One store process: a db in a directory, its outbox, its wake handle.
pub struct StoreDb {
    pub db: sled::Db,
    pub outbox: Outbox,
    pub wake: Wake,
}

impl StoreDb {
    pub fn open(dir: &Path) -> StoreDb {
        let db = sled::open(dir.join("db")).unwrap();
        let outbox = Outbox::open(&db).unwrap();
        StoreDb {
            db,
            outbox,
            wake: Wake::new(),
        }
    }

    pub fn stage(&self, ids: impl IntoIterator<Item = u64>) {
        stage(&self.db, &self.outbox, ids);
        self.wake.wake();
    }
}

/// A running dispatcher task; `stop` aborts it and waits until everything it held,
/// sled tree included, is dropped.
pub struct Running {
    pub stats: DispatchStats,
    pub task: JoinHandle<Result<(), HookError>>,
}

impl Running {
    pub fn spawn(dispatcher: Dispatcher) -> Running {
        Running {
            stats: dispatcher.stats(),
            task: tokio::spawn(dispatcher.run()),
        }
    }

    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

pub fn opts(window: usize) -> DispatchOptions {
    DispatchOptions {
        window,
        node: "node-1".into(),
        ..DispatchOptions::default()
    }
}

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("hook.sock")
}

pub async fn recv(receiver: &mut Receiver) -> Delivery {
    tokio::time::timeout(PATIENCE, receiver.recv())
        .await
        .expect("no delivery in time")
        .expect("the receiver ended")
}

/// Receives `n` deliveries and returns them.
pub async fn recv_n(receiver: &mut Receiver, n: usize) -> Vec<Delivery> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(recv(receiver).await);
    }
    out
}

pub fn ids(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries.iter().map(Delivery::commit_id).collect()
}

pub async fn assert_nothing_for(receiver: &mut Receiver, wait: Duration) {
    if let Ok(Some(d)) = tokio::time::timeout(wait, receiver.recv()).await {
        panic!("unexpected delivery of commit {}", d.commit_id());
    }
}

/// Polls `cond` until it holds.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Asserts that the error or one of its sources mentions `needle`.
pub fn assert_contains(err: &(dyn std::error::Error + 'static), needle: &str) {
    let mut chain = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        chain.push(e.to_string());
        cur = e.source();
    }
    assert!(
        chain.iter().any(|m| m.contains(needle)),
        "no error in the chain mentions {needle:?}: {chain:#?}"
    );
}

//! The daemon's side of the post-commit hook: take each commit notice, handle
//! it, acknowledge it.
//!
//! For now handling a commit means logging it; the decode and the jobs come
//! next. The acknowledgement is sent only after `handle` has finished, so
//! once handling means "every job has a result", a daemon restart re-runs
//! exactly the commits that were not finished.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use epochd_hooks::{CommitNotice, Receiver};

/// Counters of the consumer.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Notices received (redeliveries included).
    pub received: AtomicU64,
    /// Notices acknowledged.
    pub acked: AtomicU64,
}

/// Receives notices until the receiver ends, handling and acknowledging each.
/// Returns why it ended, if the hook connection failed for good.
pub async fn consume(mut receiver: Receiver, stats: Arc<ConsumerStats>) -> Option<String> {
    while let Some(delivery) = receiver.recv().await {
        stats.received.fetch_add(1, Ordering::Relaxed);
        handle(delivery.notice());
        delivery.ack();
        stats.acked.fetch_add(1, Ordering::Relaxed);
    }
    receiver.error().map(ToString::to_string)
}

fn handle(notice: &CommitNotice) {
    tracing::info!(
        commit_id = notice.commit_id,
        epoch = notice.epoch,
        dc = %notice.dc,
        seq = notice.seq,
        events = notice.events,
        chunks = notice.chunks,
        digest = %notice.manifest_digest,
        node = %notice.node,
        "commit received"
    );
}

//! The daemon's end: one [`Receiver`] type for both transports, and the [`Delivery`]
//! handle that acknowledges a commit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::{CommitNotice, HookError};

/// What a [`Delivery`] sends back to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Fully processed: remove from the outbox.
    Ack(u64),
    /// Dropped unprocessed: free the window slot, keep it in the outbox.
    Release(u64),
}

/// What a transport hands to the [`Receiver`].
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A notice received in session `generation`.
    Notice {
        notice: CommitNotice,
        generation: u64,
    },
    /// The transport gave up for good; the receiver ends after this.
    Fatal(HookError),
}

/// The way back from deliveries to the transport, shared by the receiver and every
/// delivery it handed out. It outlives connections: an ack queued here goes out on
/// whatever connection is current, since acks name the commit id, not the session.
#[derive(Debug)]
pub(crate) struct AckLink {
    replies: mpsc::UnboundedSender<Reply>,
    /// The session the transport is in now. Deliveries of older sessions are redelivered
    /// by the current one anyway, so they neither release their slot nor get handed out.
    generation: AtomicU64,
    connected: AtomicBool,
}

impl AckLink {
    pub(crate) fn new(replies: mpsc::UnboundedSender<Reply>, connected: bool) -> AckLink {
        AckLink {
            replies,
            generation: AtomicU64::new(0),
            connected: AtomicBool::new(connected),
        }
    }

    /// Marks the start of a new session: everything handed out before is stale.
    pub(crate) fn start_session(&self, generation: u64) {
        self.generation.store(generation, Ordering::Release);
        self.connected.store(true, Ordering::Release);
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
    }

    fn current(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// The daemon's end of the hook: yields each commit to process as a [`Delivery`].
///
/// Built by [`crate::local`] (embedded mode) or [`crate::connect`] (split mode); both
/// behave alike. Notices arrive in commit order within a session; after a reconnection
/// the unacknowledged ones come again, oldest first, so a commit may be seen twice
/// (at-least-once): process idempotently.
///
/// Keep the receiver alive until every delivery you mean to acknowledge has been
/// acknowledged: dropping it ends the session (queued acks are still sent), and acks
/// made after that are lost, so those commits are delivered again later.
#[derive(Debug)]
pub struct Receiver {
    incoming: mpsc::UnboundedReceiver<Incoming>,
    link: Arc<AckLink>,
    error: Option<HookError>,
}

impl Receiver {
    pub(crate) fn new(incoming: mpsc::UnboundedReceiver<Incoming>, link: Arc<AckLink>) -> Receiver {
        Receiver {
            incoming,
            link,
            error: None,
        }
    }

    /// The next commit to process. `None` when the hook has ended for good: in embedded
    /// mode the dispatcher stopped; in split mode the store is incompatible (see
    /// [`Receiver::error`]). A store that is merely down is waited for, not reported.
    ///
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Option<Delivery> {
        loop {
            match self.incoming.recv().await? {
                Incoming::Notice { notice, generation } => {
                    if generation < self.link.current() {
                        // Sent on a connection that has since been replaced; the current
                        // session sends it again in its place.
                        tracing::debug!(
                            commit_id = notice.commit_id,
                            "skipping a notice of a closed hook session"
                        );
                        continue;
                    }
                    return Some(Delivery {
                        notice,
                        generation,
                        link: Arc::clone(&self.link),
                        settled: false,
                    });
                }
                Incoming::Fatal(error) => {
                    tracing::error!(%error, "the commit hook stopped for good");
                    self.error = Some(error);
                    self.incoming.close();
                }
            }
        }
    }

    /// Why the receiver ended, when it ended on an error (after [`Receiver::recv`]
    /// returned `None`).
    pub fn error(&self) -> Option<&HookError> {
        self.error.as_ref()
    }

    /// Whether the receiver is attached to a store right now (always true in embedded
    /// mode while the dispatcher runs).
    pub fn is_connected(&self) -> bool {
        // A closed channel means the transport itself has ended.
        self.link.connected.load(Ordering::Acquire) && !self.incoming.is_closed()
    }
}

/// One commit to process. Send it to any task, keep it as long as the work takes, then
/// call [`Delivery::ack`].
///
/// Dropping it without acking is safe but should not be routine: a warning is logged,
/// the store frees its window slot and keeps the notice in its outbox, and delivers it
/// again at the start of the next session (the next reconnection in split mode, the next
/// start of the store's dispatcher in either mode).
#[derive(Debug)]
pub struct Delivery {
    notice: CommitNotice,
    generation: u64,
    link: Arc<AckLink>,
    settled: bool,
}

impl Delivery {
    /// The commit to process.
    pub fn notice(&self) -> &CommitNotice {
        &self.notice
    }

    /// Shorthand for `notice().commit_id`.
    pub fn commit_id(&self) -> u64 {
        self.notice.commit_id
    }

    /// Acknowledges the commit: the store removes it from its outbox and will not send it
    /// again. Call it only once every job has a result (or a recorded failure) for it.
    ///
    /// Never blocks. The ack names the commit id, so it stays valid across
    /// reconnections: it is sent on whichever connection is current. If the receiver has
    /// been dropped the ack is lost and the commit is delivered again later.
    pub fn ack(mut self) {
        self.settled = true;
        let commit_id = self.notice.commit_id;
        if self.link.replies.send(Reply::Ack(commit_id)).is_err() {
            tracing::debug!(
                commit_id,
                "hook receiver gone: ack lost, the commit will be delivered again"
            );
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let commit_id = self.notice.commit_id;
        tracing::warn!(
            commit_id,
            epoch = self.notice.epoch,
            dc = %self.notice.dc,
            "commit delivery dropped without ack: it stays in the store's outbox and is delivered again in the next session"
        );
        if self.generation == self.link.current() {
            // Free the store's window slot so that one dropped delivery cannot stall the
            // stream. Best effort: if the transport is gone, so is the slot.
            let _ = self.link.replies.send(Reply::Release(commit_id));
        }
    }
}

//! The store's end of delivery: read the outbox in commit order, keep at most a window
//! of notices in flight, remove what the receiver acknowledges.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sled::IVec;
use tokio::sync::Notify;

use crate::local::LocalLink;
use crate::receiver::Reply;
use crate::socket::SocketTransport;
use crate::stats::{Counters, DispatchStats};
use crate::{CommitNotice, HookError, Outbox};

/// Wakes the dispatcher after a commit. Cheap to clone; [`Wake::wake`] is a plain,
/// non-blocking function callable from any thread, async or not.
///
/// Wakes coalesce: many wakes while the dispatcher is busy make it look at the outbox
/// once more, which finds every new entry.
#[derive(Clone, Debug, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// A new wake-up handle, to give to one dispatcher and to the store's commit path.
    pub fn new() -> Wake {
        Wake::default()
    }

    /// Tells the dispatcher that the outbox has new entries. Call it after the commit
    /// transaction is flushed.
    pub fn wake(&self) {
        // `notify_one` stores a permit when the dispatcher is not waiting, so a wake that
        // lands while it is sending is not lost.
        self.0.notify_one();
    }

    pub(crate) fn notified(&self) -> impl Future<Output = ()> + '_ {
        self.0.notified()
    }
}

/// Options of the store-side dispatcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchOptions {
    /// Most notices sent and not yet acknowledged at once (also bounds what the receiver
    /// buffers). Default 1024; 1 to 1,048,576.
    pub window: usize,
    /// Milliseconds between looks at the outbox when nothing wakes the dispatcher: a
    /// safety net for a missed [`Wake::wake`], not the delivery path. Default 1000;
    /// 0 turns it off.
    pub poll_interval_ms: u64,
    /// Milliseconds a connecting daemon has to complete the handshake, proof of the
    /// secret included (socket mode). Each connection has its own: handshakes run side
    /// by side, so silent connections cannot delay a real daemon. Default 5000; at
    /// least 1.
    pub handshake_timeout_ms: u64,
    /// This node's name, sent in the handshake and logged. Default empty.
    pub node: String,
    /// The file holding the hook secret that a daemon must prove it holds (socket
    /// mode; the embedded hook needs none). Created, random and mode 0600, if absent.
    /// Default `None`: the socket's path with `.secret` appended
    /// ([`crate::HookSecret::default_path`]), where [`crate::connect`] looks by default.
    pub secret_file: Option<PathBuf>,
}

impl Default for DispatchOptions {
    fn default() -> DispatchOptions {
        DispatchOptions {
            window: 1024,
            poll_interval_ms: 1000,
            handshake_timeout_ms: 5000,
            node: String::new(),
            secret_file: None,
        }
    }
}

impl DispatchOptions {
    /// Checks every field's range. Touches nothing.
    pub fn validate(&self) -> Result<(), HookError> {
        if !(1..=1 << 20).contains(&self.window) {
            return Err(HookError::InvalidOption {
                field: "window",
                reason: format!("{} is out of range: use 1 to 1048576 notices", self.window),
            });
        }
        if self.handshake_timeout_ms == 0 {
            return Err(HookError::InvalidOption {
                field: "handshake_timeout_ms",
                reason: "0 would refuse every daemon: use at least 1 ms".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
}

/// The store's end of the commit hook: sends the outbox's notices, in commit order, to
/// the receiver and removes them when acknowledged.
///
/// Built by [`crate::local`] or [`crate::listen`]; started with [`Dispatcher::run`].
/// Its counters are available through [`Dispatcher::stats`] before it is started.
#[derive(Debug)]
pub struct Dispatcher {
    core: Core,
    transport: Transport,
}

#[derive(Debug)]
pub(crate) enum Transport {
    Local(LocalLink),
    Socket(SocketTransport),
}

/// What does not depend on the transport.
#[derive(Debug)]
pub(crate) struct Core {
    outbox: Outbox,
    wake: Wake,
    pub(crate) opts: DispatchOptions,
    stats: DispatchStats,
    /// Highest commit id sent in this dispatcher's life: sending one at or below it
    /// again is a redelivery.
    max_sent: Option<u64>,
}

/// The receiver went away.
#[derive(Debug)]
pub(crate) struct Gone;

/// A connection to one receiver, as the session loop sees it.
pub(crate) trait Link {
    /// Sends one notice; `Err` when the receiver is gone.
    async fn send(&mut self, notice: CommitNotice) -> Result<(), Gone>;
    /// The receiver's next reply; `None` once it is gone and no reply is left.
    /// Must be cancel-safe: it is raced against wake-ups.
    async fn reply(&mut self) -> Option<Reply>;
}

impl Dispatcher {
    pub(crate) fn new(
        outbox: Outbox,
        wake: Wake,
        opts: DispatchOptions,
        transport: Transport,
    ) -> Dispatcher {
        Dispatcher {
            core: Core {
                stats: DispatchStats::new(outbox.clone()),
                outbox,
                wake,
                opts,
                max_sent: None,
            },
            transport,
        }
    }

    /// The live counters, for /metrics.
    pub fn stats(&self) -> DispatchStats {
        self.core.stats.clone()
    }

    /// The wake-up handle this dispatcher listens to.
    pub fn wake(&self) -> Wake {
        self.core.wake.clone()
    }

    /// Delivers until the end: in embedded mode until the [`crate::Receiver`] is
    /// dropped; in socket mode forever, one daemon connection after another.
    ///
    /// Fails on invalid options or when sled fails. Dropping the future (or aborting its
    /// task) stops delivery at once and loses nothing: what was not acknowledged is still
    /// in the outbox. It holds the outbox's sled tree, so drop it before reopening the
    /// db.
    pub async fn run(self) -> Result<(), HookError> {
        let Dispatcher {
            mut core,
            transport,
        } = self;
        core.opts.validate()?;
        match transport {
            Transport::Local(link) => crate::local::run(&mut core, link).await,
            Transport::Socket(socket) => crate::socket::run(&mut core, socket).await,
        }
    }
}

impl Core {
    /// One receiver session: from the oldest unacknowledged entry, send in commit order
    /// within the window, apply replies, until the receiver is gone.
    pub(crate) async fn session<L: Link>(&mut self, link: &mut L) -> Result<(), HookError> {
        let stats = self.stats.clone();
        let c = stats.counters();
        Counters::add(&c.sessions, 1);
        c.connected.store(true, Ordering::Relaxed);
        let result = self.deliver(link, c).await;
        c.connected.store(false, Ordering::Relaxed);
        c.in_flight.store(0, Ordering::Relaxed);
        result
    }

    async fn deliver<L: Link>(&mut self, link: &mut L, c: &Counters) -> Result<(), HookError> {
        let window = self.opts.window;
        let poll = Duration::from_millis(self.opts.poll_interval_ms);
        let wake = self.wake.clone();
        let mut in_flight = BTreeSet::new();
        // The key of the last entry read; the next read starts after it.
        let mut cursor: Option<IVec> = None;
        // False once a send failed: only the replies already on their way are read then.
        let mut sending = true;
        loop {
            if sending && in_flight.len() < window {
                let batch = self
                    .outbox
                    .read_after(cursor.as_ref(), window - in_flight.len())?;
                for (key, entry) in batch {
                    let notice = match entry {
                        Ok(notice) => notice,
                        Err(error) => {
                            tracing::error!(%error, "skipping an unreadable hook outbox entry");
                            Counters::add(&c.skipped, 1);
                            cursor = Some(key);
                            continue;
                        }
                    };
                    let commit_id = notice.commit_id;
                    if link.send(notice).await.is_err() {
                        sending = false;
                        break;
                    }
                    cursor = Some(key);
                    in_flight.insert(commit_id);
                    Counters::add(&c.sent, 1);
                    if self.max_sent.is_some_and(|max| commit_id <= max) {
                        Counters::add(&c.redelivered, 1);
                    }
                    self.max_sent = self.max_sent.max(Some(commit_id));
                }
                c.in_flight.store(in_flight.len() as u64, Ordering::Relaxed);
            }
            tokio::select! {
                reply = link.reply() => match reply {
                    None => return Ok(()),
                    Some(Reply::Ack(commit_id)) => {
                        // An ack may name a commit sent in an earlier session: it is
                        // still that commit, so it is removed all the same.
                        in_flight.remove(&commit_id);
                        if self.outbox.ack(commit_id)? {
                            Counters::add(&c.acked, 1);
                        }
                    }
                    Some(Reply::Release(commit_id)) => {
                        if in_flight.remove(&commit_id) {
                            Counters::add(&c.released, 1);
                            tracing::warn!(commit_id, "the daemon dropped a commit without acking it; it stays in the outbox for the next session");
                        }
                    }
                },
                () = wake.notified(), if sending => {}
                () = tokio::time::sleep(poll), if sending && !poll.is_zero() => {}
            }
            c.in_flight.store(in_flight.len() as u64, Ordering::Relaxed);
        }
    }
}

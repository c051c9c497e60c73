//! Embedded mode: store and daemon in one process, the hook is a pair of channels.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::dispatch::{Core, Gone, Link, Transport};
use crate::receiver::{AckLink, Incoming, Reply};
use crate::{CommitNotice, DispatchOptions, Dispatcher, HookError, Outbox, Receiver, Wake};

/// Builds an in-process hook: the [`Dispatcher`] for the store's side (spawn
/// [`Dispatcher::run`] on a tokio runtime) and the [`Receiver`] for the daemon's side.
///
/// There is one session, the receiver's life: when the receiver is dropped the
/// dispatcher stops. Notices not acknowledged by then stay in the outbox and are
/// delivered when the store starts its next dispatcher (the next process start).
pub fn local(outbox: Outbox, wake: Wake, opts: DispatchOptions) -> (Dispatcher, Receiver) {
    let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = mpsc::unbounded_channel();
    let receiver = Receiver::new(incoming_rx, Arc::new(AckLink::new(reply_tx, true)));
    let link = LocalLink {
        incoming: incoming_tx,
        replies: reply_rx,
    };
    let dispatcher = Dispatcher::new(outbox, wake, opts, Transport::Local(link));
    (dispatcher, receiver)
}

/// The store's side of the channel pair.
#[derive(Debug)]
pub(crate) struct LocalLink {
    incoming: mpsc::UnboundedSender<Incoming>,
    replies: mpsc::UnboundedReceiver<Reply>,
}

impl Link for LocalLink {
    async fn send(&mut self, notice: CommitNotice) -> Result<(), Gone> {
        // The window bounds how many notices sit in this unbounded channel.
        self.incoming
            .send(Incoming::Notice {
                notice,
                generation: 0,
            })
            .map_err(|_| Gone)
    }

    async fn reply(&mut self) -> Option<Reply> {
        if self.incoming.is_closed() {
            // The receiver is gone: hand over the replies it queued before, then stop.
            return self.replies.try_recv().ok();
        }
        tokio::select! {
            reply = self.replies.recv() => reply,
            () = self.incoming.closed() => self.replies.try_recv().ok(),
        }
    }
}

/// Runs the single session of an embedded hook.
pub(crate) async fn run(core: &mut Core, mut link: LocalLink) -> Result<(), HookError> {
    tracing::info!(node = %core.opts.node, "in-process commit hook started");
    core.session(&mut link).await?;
    tracing::info!("commit hook receiver dropped: in-process dispatcher stops");
    Ok(())
}

//! The post-commit hook contract between the epochd store and its companion daemon:
//! the [`CommitNotice`], the durable [`Outbox`], and delivery with acknowledgement,
//! in-process ([`local`]) or over a Unix socket ([`listen`] / [`connect`]).
//!
//! # The guarantee
//!
//! - **Durable with the commit.** The store stages a notice with [`Outbox::stage`] inside
//!   the very sled transaction that writes the epoch's manifest; that transaction is the
//!   commit. The store flushes the db before it acknowledges the commit to its
//!   producer, so a crash never loses the notice of a commit a producer was told about.
//!   A crash may lose a commit that was never acknowledged to its producer (the producer
//!   retries), together with its notice; if that notice had already been delivered, the
//!   daemon processed a commit the store no longer has, which results keyed by
//!   (job, epoch, dc) absorb.
//! - **At-least-once.** A notice leaves the outbox only when the daemon acknowledges it
//!   ([`Delivery::ack`]). A lost ack (acks are not flushed; a connection may drop after
//!   the daemon acked) means the commit is delivered again. The daemon must therefore
//!   process a commit idempotently.
//! - **Commit order.** Within a session, notices are sent in commit-id order, which is
//!   commit order. When a receiver comes back (reconnection, store or daemon restart),
//!   the new session starts again from the oldest unacknowledged notice.
//! - **Bounded.** At most [`DispatchOptions::window`] notices are in flight per session;
//!   the rest wait in the outbox, on disk, however long the daemon is away. The store
//!   keeps committing meanwhile; [`StatsSnapshot::backlog`] shows what waits.
//!
//! # Who runs what
//!
//! The store owns the [`Outbox`] and a [`Dispatcher`], built by [`local`] (embedded
//! mode, daemon in the same process) or [`listen`] (split mode, the store listens on a
//! Unix socket), and runs [`Dispatcher::run`] on its tokio runtime. After each commit
//! is flushed it calls [`Wake::wake`] (a plain function, fine from a non-async thread).
//! The daemon holds a [`Receiver`]: returned by [`local`], or by [`connect`], which keeps
//! (re)connecting to the store's socket. [`Receiver::recv`] yields [`Delivery`]s; ack
//! each one from any task once the commit is fully processed.
//!
//! # The hook socket
//!
//! In split mode only the configured daemon may receive notices or ack them, since an
//! ack deletes a notice for good:
//!
//! - The socket file has mode 0600 from the moment it exists, and peers of another uid
//!   are refused (`SO_PEERCRED`): store and daemon run as one user.
//! - Both ends share a [`HookSecret`] kept in a file (64 hex digits, mode 0600), by
//!   default the socket's path with `.secret` appended; [`listen`] creates it if absent,
//!   [`connect`] reads it before each attempt ([`DispatchOptions::secret_file`],
//!   [`ConnectOptions::secret_file`] to choose another). In the handshake each side
//!   answers the other's random nonce with an HMAC of both nonces keyed with the
//!   secret ([`WireMessage`] describes the frames); the secret never crosses the
//!   socket. A daemon without the right proof gets an `Error` naming the store's
//!   secret file and is closed before any notice is sent.
//! - Handshakes run side by side, each bounded by
//!   [`DispatchOptions::handshake_timeout_ms`], so connections that stay silent cannot
//!   hold up the real daemon.
//!
//! The in-process hook ([`local`]) has no socket and needs no secret.
//!
//! # Example
//!
//! ```
//! use epochd_hooks::{local, CommitNotice, DispatchOptions, Outbox, Wake, NOTICE_VERSION};
//! use sled::transaction::ConflictableTransactionError;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let db = sled::open(dir.path())?;
//! let outbox = Outbox::open(&db)?;
//! let wake = Wake::new();
//! let (dispatcher, mut receiver) = local(outbox.clone(), wake.clone(), DispatchOptions::default());
//! let stats = dispatcher.stats();
//! tokio::spawn(dispatcher.run());
//!
//! // Store side: the commit transaction stages the notice (a real store writes its
//! // manifest in the same transaction), then flushes, then wakes the dispatcher.
//! let notice = CommitNotice {
//!     version: NOTICE_VERSION,
//!     commit_id: 1,
//!     epoch: 1_700_000_000,
//!     dc: "ams".into(),
//!     seq: 0,
//!     manifest_digest: "00112233445566778899aabbccddeeff".into(),
//!     node: "node-1".into(),
//!     events: 1000,
//!     chunks: 2,
//!     committed_at_ms: 1_700_000_001_000,
//! };
//! outbox.tree().transaction(|tx| {
//!     Outbox::stage(tx, &notice)?;
//!     Ok::<_, ConflictableTransactionError>(())
//! })?;
//! db.flush()?;
//! wake.wake();
//!
//! // Daemon side: process, then ack.
//! let delivery = receiver.recv().await.expect("the dispatcher is running");
//! assert_eq!(delivery.notice(), &notice);
//! delivery.ack();
//! # while stats.snapshot().acked == 0 { tokio::task::yield_now().await; }
//! # assert!(outbox.is_empty());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod connect;
mod dispatch;
mod error;
// Reaches the crate-private handshake for fuzz/ only; not an API.
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod local;
mod notice;
mod outbox;
mod receiver;
mod secret;
mod socket;
mod stats;
mod wire;

pub use connect::{connect, ConnectOptions};
pub use dispatch::{DispatchOptions, Dispatcher, Wake};
pub use error::HookError;
pub use local::local;
pub use notice::{CommitNotice, NOTICE_VERSION};
pub use outbox::{Outbox, Pending};
pub use receiver::{Delivery, Receiver};
pub use secret::{HookSecret, NONCE_LEN, SECRET_LEN};
pub use socket::listen;
pub use stats::{DispatchStats, StatsSnapshot};
pub use wire::{
    encode_frame, write_frame, FrameReader, Role, WireMessage, MAX_FRAME_LEN, PROTOCOL_VERSION,
};

//! Split mode, daemon side: connect to the store's hook socket, and reconnect for as long
//! as the receiver lives.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::handshake::{self, Key};
use crate::receiver::{AckLink, Incoming, Reply};
use crate::wire::{write_frame, FrameReader, WireMessage};
use crate::{HookError, HookSecret, Receiver};

/// Options of the daemon's connection to its store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectOptions {
    /// This node's name, sent in the handshake and logged by the store. Default empty.
    pub node: String,
    /// Milliseconds to wait before the first retry after a failed or lost connection;
    /// doubles on each failure in a row. Default 50; at least 1.
    pub backoff_initial_ms: u64,
    /// Upper bound of the retry delay, in milliseconds. Default 2000; at least
    /// `backoff_initial_ms`.
    pub backoff_max_ms: u64,
    /// Milliseconds the store has to complete the handshake. Default 5000; at least 1.
    pub handshake_timeout_ms: u64,
    /// The file holding the hook secret shared with the store, read before each
    /// connection attempt (so a daemon may start before its store has created it).
    /// Default `None`: the socket's path with `.secret` appended
    /// ([`crate::HookSecret::default_path`]), where [`crate::listen`] creates it by
    /// default.
    pub secret_file: Option<PathBuf>,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            node: String::new(),
            backoff_initial_ms: 50,
            backoff_max_ms: 2000,
            handshake_timeout_ms: 5000,
            secret_file: None,
        }
    }
}

impl ConnectOptions {
    /// Checks every field's range. Touches nothing.
    pub fn validate(&self) -> Result<(), HookError> {
        if self.backoff_initial_ms == 0 {
            return Err(HookError::InvalidOption {
                field: "backoff_initial_ms",
                reason: "0 would retry in a busy loop: use at least 1 ms".into(),
            });
        }
        if self.backoff_max_ms < self.backoff_initial_ms {
            return Err(HookError::InvalidOption {
                field: "backoff_max_ms",
                reason: format!(
                    "{} ms is below backoff_initial_ms ({} ms)",
                    self.backoff_max_ms, self.backoff_initial_ms
                ),
            });
        }
        if self.handshake_timeout_ms == 0 {
            return Err(HookError::InvalidOption {
                field: "handshake_timeout_ms",
                reason: "0 would fail every handshake: use at least 1 ms".into(),
            });
        }
        Ok(())
    }
}

/// Connects the daemon to the store's hook socket at `path` and returns at once with
/// the [`Receiver`]; must be called within a tokio runtime.
///
/// A background task connects, and reconnects with exponential backoff whenever the
/// store is not there or goes away (a store restart is routine), for as long as the
/// receiver lives. Each new connection starts a session in which the store sends every
/// unacknowledged commit again, oldest first; notices of the previous connection that
/// the daemon has not taken yet are discarded in favour of the new session's.
///
/// Each connection starts with a handshake in which the daemon proves that it holds the
/// hook secret of [`ConnectOptions::secret_file`] and the store proves the same, before
/// any notice is taken. A missing secret file or a refused proof is retried like a
/// store that is down (the store creates the file when it starts; an operator may fix
/// a wrong one), with a warning that names the file.
///
/// It gives up only when retrying cannot help: the store speaks another protocol or
/// notice version, or the path is not a store's socket. Then [`Receiver::recv`] returns
/// `None` and [`Receiver::error`] says why. Invalid options end it the same way.
pub async fn connect(path: impl AsRef<Path>, opts: ConnectOptions) -> Receiver {
    let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
    let (reply_tx, reply_rx) = mpsc::unbounded_channel();
    let link = Arc::new(AckLink::new(reply_tx, false));
    let receiver = Receiver::new(incoming_rx, Arc::clone(&link));
    if let Err(error) = opts.validate() {
        let _ = incoming_tx.send(Incoming::Fatal(error));
        return receiver;
    }
    let connector = Connector {
        path: path.as_ref().to_path_buf(),
        opts,
        incoming: incoming_tx,
        replies: reply_rx,
        link,
    };
    tokio::spawn(connector.run());
    receiver
}

/// The background task behind a socket [`Receiver`].
struct Connector {
    path: PathBuf,
    opts: ConnectOptions,
    incoming: mpsc::UnboundedSender<Incoming>,
    replies: mpsc::UnboundedReceiver<Reply>,
    link: Arc<AckLink>,
}

/// Why one connection ended.
enum End {
    /// The receiver was dropped: stop for good.
    ReceiverGone,
    /// Retrying cannot help: stop and tell the receiver.
    Fatal(HookError),
    /// The store went away or misbehaved: reconnect. `None` for a clean close.
    Lost(Option<HookError>),
}

impl Connector {
    async fn run(mut self) {
        let initial = Duration::from_millis(self.opts.backoff_initial_ms);
        let max = Duration::from_millis(self.opts.backoff_max_ms);
        let mut backoff = initial;
        let mut failures = 0u32;
        // The last failure warned about: a new reason is warned about again (a missing
        // secret file, then a refused proof, must both reach the operator).
        let mut warned: Option<String> = None;
        let mut generation = 0u64;
        loop {
            let attempt = tokio::select! {
                attempt = self.handshake() => attempt,
                () = self.incoming.closed() => return,
            };
            let outcome = match attempt {
                Ok((reader, writer, store)) => {
                    generation += 1;
                    self.link.start_session(generation);
                    if failures > 0 {
                        tracing::info!(%store, failures, path = %self.path.display(), "connected to the store's commit hook");
                    } else {
                        tracing::info!(%store, path = %self.path.display(), "connected to the store's commit hook");
                    }
                    let end = self.serve(reader, writer, generation).await;
                    self.link.set_connected(false);
                    end
                }
                Err(error) if error.is_incompatible() => End::Fatal(error),
                Err(error) => End::Lost(Some(error)),
            };
            match outcome {
                End::ReceiverGone => return,
                End::Fatal(error) => {
                    let _ = self.incoming.send(Incoming::Fatal(error));
                    return;
                }
                End::Lost(None) => {
                    tracing::warn!(path = %self.path.display(), "the store closed the commit hook connection; reconnecting");
                    failures = 0;
                    warned = None;
                    backoff = initial;
                }
                End::Lost(Some(error)) => {
                    failures += 1;
                    // One warning per outage and reason; the retries after it are
                    // routine.
                    let reason = error.to_string();
                    if failures == 1 || warned.as_ref() != Some(&reason) {
                        warned = Some(reason);
                        tracing::warn!(%error, path = %self.path.display(), "commit hook connection failed; retrying with backoff");
                    } else {
                        tracing::debug!(%error, failures, "commit hook connection retry failed");
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.incoming.closed() => return,
            }
            backoff = (backoff * 2).min(max);
        }
    }

    /// Reads the secret, connects, and runs the handshake (hellos, challenges, proofs)
    /// within the handshake timeout.
    async fn handshake(
        &self,
    ) -> Result<(FrameReader<OwnedReadHalf>, OwnedWriteHalf, String), HookError> {
        let file = self
            .opts
            .secret_file
            .clone()
            .unwrap_or_else(|| HookSecret::default_path(&self.path));
        let key = Key {
            secret: HookSecret::load(&file)?,
            file,
        };
        let stream = UnixStream::connect(&self.path)
            .await
            .map_err(|e| HookError::io("connecting to the store's hook socket", &self.path, e))?;
        let (rd, mut wr) = stream.into_split();
        let mut reader = FrameReader::new(rd);
        let timeout = Duration::from_millis(self.opts.handshake_timeout_ms);
        let exchange = handshake::as_daemon(&mut reader, &mut wr, &self.opts.node, &key);
        match tokio::time::timeout(timeout, exchange).await {
            Ok(store) => Ok((reader, wr, store?)),
            Err(_) => Err(HookError::HandshakeTimeout {
                after_ms: timeout.as_millis() as u64,
            }),
        }
    }

    /// Moves notices to the receiver and replies to the store until the connection or
    /// the receiver ends. Reading and writing run side by side so that neither end can
    /// block the other with a full socket buffer.
    async fn serve(
        &mut self,
        mut reader: FrameReader<OwnedReadHalf>,
        mut writer: OwnedWriteHalf,
        generation: u64,
    ) -> End {
        let incoming = &self.incoming;
        let replies = &mut self.replies;
        let read_side = async {
            loop {
                match reader.next().await {
                    Ok(Some(WireMessage::Notice(notice))) => {
                        if let Err(error) = notice.check_version() {
                            return End::Fatal(error);
                        }
                        // If the receiver is gone the notice is simply not taken; the
                        // write side notices and ends the connection after its last acks.
                        let _ = incoming.send(Incoming::Notice { notice, generation });
                    }
                    Ok(Some(WireMessage::Error { message })) => {
                        return End::Lost(Some(HookError::Refused { message }));
                    }
                    Ok(Some(other)) => {
                        return End::Lost(Some(HookError::UnexpectedMessage {
                            expected: "Notice",
                            got: other.kind(),
                        }));
                    }
                    Ok(None) => return End::Lost(None),
                    Err(error) => return End::Lost(Some(error)),
                }
            }
        };
        let write_side = async {
            loop {
                tokio::select! {
                    reply = replies.recv() => {
                        let Some(reply) = reply else { return End::ReceiverGone };
                        if let Err(error) = write_frame(&mut writer, &to_wire(reply)).await {
                            return End::Lost(Some(error));
                        }
                    }
                    () = incoming.closed() => {
                        // The receiver was dropped: send the acks it queued before, so
                        // that finished work is not redone, then close.
                        while let Ok(reply) = replies.try_recv() {
                            if write_frame(&mut writer, &to_wire(reply)).await.is_err() {
                                break;
                            }
                        }
                        let _ = writer.shutdown().await;
                        return End::ReceiverGone;
                    }
                }
            }
        };
        tokio::select! {
            end = read_side => end,
            end = write_side => end,
        }
    }
}

fn to_wire(reply: Reply) -> WireMessage {
    match reply {
        Reply::Ack(commit_id) => WireMessage::Ack { commit_id },
        Reply::Release(commit_id) => WireMessage::Release { commit_id },
    }
}

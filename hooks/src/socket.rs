//! Split mode, store side: listen on a Unix socket and deliver to one daemon at a time.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};

use crate::dispatch::{Core, Gone, Link, Transport};
use crate::receiver::Reply;
use crate::wire::{write_frame, FrameReader, Role, WireMessage, PROTOCOL_VERSION};
use crate::{CommitNotice, DispatchOptions, Dispatcher, HookError, Outbox, Wake};

/// How long a refusal or a protocol error message may take to write before the
/// connection is dropped without it.
const ERROR_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Binds the store's hook socket at `path` and returns the [`Dispatcher`] that serves
/// it (spawn [`Dispatcher::run`] on a tokio runtime). Needs no runtime itself.
///
/// A socket file left at `path` by a store that is gone is removed; a live one (another
/// store answers on it) is [`HookError::SocketInUse`]; a path that is not a socket is
/// never deleted ([`HookError::NotASocket`]).
///
/// One daemon at a time: while a daemon is connected, another connection gets the
/// store's `Hello`, then an `Error` saying that the store already has a receiver, and is
/// closed ([`crate::connect`] keeps retrying and gets in when the first daemon leaves).
/// Refusing rather than replacing means that two daemons pointed at one store show up
/// as a loud error instead of taking turns, and that an ack in flight from the first
/// daemon is never cut off by a newcomer. A daemon that dies is noticed at once (the
/// kernel closes its socket).
pub fn listen(
    path: impl AsRef<Path>,
    outbox: Outbox,
    wake: Wake,
    opts: DispatchOptions,
) -> Result<Dispatcher, HookError> {
    let path = path.as_ref().to_path_buf();
    remove_stale_socket(&path)?;
    let listener = std::os::unix::net::UnixListener::bind(&path)
        .map_err(|e| HookError::io("binding the hook socket", &path, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| HookError::io("configuring the hook socket", &path, e))?;
    Ok(Dispatcher::new(
        outbox,
        wake,
        opts,
        Transport::Socket(SocketTransport { listener, path }),
    ))
}

/// A bound listener waiting for [`Dispatcher::run`].
#[derive(Debug)]
pub(crate) struct SocketTransport {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

fn remove_stale_socket(path: &Path) -> Result<(), HookError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(HookError::io("inspecting the hook socket path", path, e)),
    };
    if !meta.file_type().is_socket() {
        return Err(HookError::NotASocket { path: path.into() });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(HookError::SocketInUse { path: path.into() }),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing the stale hook socket of a previous store");
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(HookError::io("removing the stale hook socket", path, e))
                }
                _ => Ok(()),
            }
        }
        Err(e) => Err(HookError::io("probing the existing hook socket", path, e)),
    }
}

/// Accepts daemons one after another and runs a session with each.
pub(crate) async fn run(core: &mut Core, transport: SocketTransport) -> Result<(), HookError> {
    let SocketTransport { listener, path } = transport;
    let listener = UnixListener::from_std(listener)
        .map_err(|e| HookError::io("registering the hook socket with tokio", &path, e))?;
    tracing::info!(path = %path.display(), "commit hook socket listening");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Typically out of file descriptors: wait instead of spinning.
                tracing::warn!(%error, "accepting a daemon on the hook socket failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (reader, writer, daemon) = match handshake(stream, &core.opts).await {
            Ok(parts) => parts,
            Err(error) => {
                tracing::warn!(%error, "refused a connection on the hook socket");
                continue;
            }
        };
        tracing::info!(%daemon, "daemon connected to the commit hook");
        let opts = core.opts.clone();
        let mut link = SocketLink {
            reader,
            writer,
            listener: &listener,
            refusal: format!(
                "this store already delivers its commits to daemon {daemon:?} on {}; a store has one daemon at a time: stop the other daemon or point this one at its own store's socket",
                path.display()
            ),
            opts: &opts,
        };
        core.session(&mut link).await?;
        tracing::info!(%daemon, "daemon left the commit hook; unacknowledged commits stay in the outbox");
    }
}

/// Exchanges `Hello`s with a new connection and checks the daemon's version and role.
async fn handshake(
    stream: UnixStream,
    opts: &DispatchOptions,
) -> Result<(FrameReader<OwnedReadHalf>, OwnedWriteHalf, String), HookError> {
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd);
    // Ours first, so that even a refused peer learns our version.
    write_frame(&mut wr, &WireMessage::hello(&opts.node, Role::Store)).await?;
    let checked = read_hello(&mut reader, opts.handshake_timeout())
        .await
        .and_then(|(node, role)| match role {
            Role::Daemon => Ok(node),
            theirs => Err(HookError::WrongRole {
                expected: Role::Daemon,
                theirs,
            }),
        });
    match checked {
        Ok(node) => Ok((reader, wr, node)),
        Err(error) => {
            send_error(&mut wr, &error.to_string()).await;
            Err(error)
        }
    }
}

/// Reads the peer's `Hello` and checks its version. Shared with the daemon side.
pub(crate) async fn read_hello(
    reader: &mut FrameReader<OwnedReadHalf>,
    timeout: Duration,
) -> Result<(String, Role), HookError> {
    let msg = tokio::time::timeout(timeout, reader.next())
        .await
        .map_err(|_| HookError::HandshakeTimeout {
            after_ms: timeout.as_millis() as u64,
        })??
        .ok_or(HookError::ConnectionClosed)?;
    match msg {
        WireMessage::Hello {
            protocol_version,
            node,
            role,
        } => {
            if protocol_version != PROTOCOL_VERSION {
                return Err(HookError::ProtocolVersion {
                    ours: PROTOCOL_VERSION,
                    theirs: protocol_version,
                });
            }
            Ok((node, role))
        }
        WireMessage::Error { message } => Err(HookError::Refused { message }),
        other => Err(HookError::UnexpectedMessage {
            expected: "Hello",
            got: other.kind(),
        }),
    }
}

/// Best effort: tells the peer why it is being dropped.
async fn send_error(wr: &mut OwnedWriteHalf, message: &str) {
    let msg = WireMessage::Error {
        message: message.to_owned(),
    };
    let _ = tokio::time::timeout(ERROR_WRITE_TIMEOUT, write_frame(wr, &msg)).await;
}

/// Turns away a second daemon while one is connected.
async fn refuse(stream: UnixStream, opts: DispatchOptions, message: String) {
    let (rd, mut wr) = stream.into_split();
    let mut reader = FrameReader::new(rd);
    if write_frame(&mut wr, &WireMessage::hello(&opts.node, Role::Store))
        .await
        .is_err()
    {
        return;
    }
    let who = read_hello(&mut reader, opts.handshake_timeout())
        .await
        .map(|(node, _)| node)
        .unwrap_or_default();
    tracing::warn!(daemon = %who, "refused a second daemon on the hook socket: {message}");
    send_error(&mut wr, &message).await;
}

/// One daemon connection during its session.
struct SocketLink<'a> {
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    listener: &'a UnixListener,
    refusal: String,
    opts: &'a DispatchOptions,
}

impl Link for SocketLink<'_> {
    async fn send(&mut self, notice: CommitNotice) -> Result<(), Gone> {
        write_frame(&mut self.writer, &WireMessage::Notice(notice))
            .await
            .map_err(|error| {
                tracing::debug!(%error, "sending a commit notice failed");
                Gone
            })
    }

    async fn reply(&mut self) -> Option<Reply> {
        loop {
            tokio::select! {
                msg = self.reader.next() => return self.on_message(msg).await,
                accepted = self.listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        // Spawned: the refusal must not hold up the session.
                        tokio::spawn(refuse(stream, self.opts.clone(), self.refusal.clone()));
                    }
                }
            }
        }
    }
}

impl SocketLink<'_> {
    async fn on_message(&mut self, msg: Result<Option<WireMessage>, HookError>) -> Option<Reply> {
        match msg {
            Ok(Some(WireMessage::Ack { commit_id })) => Some(Reply::Ack(commit_id)),
            Ok(Some(WireMessage::Release { commit_id })) => Some(Reply::Release(commit_id)),
            Ok(None) => None,
            Ok(Some(WireMessage::Error { message })) => {
                tracing::warn!(%message, "the daemon closed the hook connection with an error");
                None
            }
            Ok(Some(other)) => {
                let error = HookError::UnexpectedMessage {
                    expected: "Ack or Release",
                    got: other.kind(),
                };
                tracing::warn!(%error, "dropping the daemon's hook connection");
                send_error(&mut self.writer, &error.to_string()).await;
                None
            }
            Err(error) => {
                tracing::warn!(%error, "dropping the daemon's hook connection");
                if !matches!(
                    error,
                    HookError::Connection(_) | HookError::ConnectionClosed
                ) {
                    send_error(&mut self.writer, &error.to_string()).await;
                }
                None
            }
        }
    }
}

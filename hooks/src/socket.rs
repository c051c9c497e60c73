//! Split mode, store side: listen on a Unix socket and deliver to one daemon at a time.

use std::convert::Infallible;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::dispatch::{Core, Gone, Link, Transport};
use crate::handshake::{self, send_error, Key, Reader};
use crate::receiver::Reply;
use crate::secret::{hex, random_bytes};
use crate::wire::{write_frame, FrameReader, WireMessage};
use crate::{CommitNotice, DispatchOptions, Dispatcher, HookError, HookSecret, Outbox, Wake};

/// Binds the store's hook socket at `path` and returns the [`Dispatcher`] that serves
/// it (spawn [`Dispatcher::run`] on a tokio runtime). Needs no runtime itself.
///
/// A socket file left at `path` by a store that is gone is removed; a live one (another
/// store answers on it) is [`HookError::SocketInUse`]; a path that is not a socket is
/// never deleted ([`HookError::NotASocket`]).
///
/// Only the store's user may connect, and only a daemon that holds the hook secret gets
/// notices:
///
/// - The socket file has mode 0600 from the moment it appears at `path`: it is bound in
///   a fresh 0700 directory beside `path`, chmod-ed, then linked into place (a plain
///   bind would leave it open to everyone the umask lets in until a later chmod).
///   Connections from processes of another uid (`SO_PEERCRED`) are refused as well, in
///   case the mode is loosened by hand.
/// - The secret is read from [`DispatchOptions::secret_file`] (default: `path` with
///   `.secret` appended, [`HookSecret::default_path`]), and created there (mode 0600,
///   random) if absent, before the socket is bound. A daemon must prove it holds the
///   secret (challenge-response, see [`crate::WireMessage`]) before it receives a
///   notice or may ack one; one that cannot gets an `Error` naming the store's secret
///   file and is closed.
///
/// Each connection's handshake runs in a task of its own, bounded by
/// [`DispatchOptions::handshake_timeout_ms`], so connections that never say anything
/// cannot hold up a real daemon behind them.
///
/// One daemon at a time: while a daemon is connected, another that completes the
/// handshake gets an `Error` saying that the store already has a receiver, and is
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
    let file = opts
        .secret_file
        .clone()
        .unwrap_or_else(|| HookSecret::default_path(&path));
    let secret = HookSecret::load_or_create(&file)?;
    remove_stale_socket(&path)?;
    let listener = bind_private(&path)?;
    listener
        .set_nonblocking(true)
        .map_err(|e| HookError::io("configuring the hook socket", &path, e))?;
    Ok(Dispatcher::new(
        outbox,
        wake,
        opts,
        Transport::Socket(SocketTransport {
            listener,
            path,
            key: Key { secret, file },
        }),
    ))
}

/// A bound listener waiting for [`Dispatcher::run`].
#[derive(Debug)]
pub(crate) struct SocketTransport {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
    key: Key,
}

/// Binds a listening socket that appears at `path` with mode 0600 already.
///
/// The socket is bound in a new directory of mode 0700 beside `path` (nobody else can
/// reach it there), chmod-ed to 0600, then hard-linked to `path`, which fails rather
/// than replace anything that appeared there meanwhile. Changing the umask instead
/// would affect every thread of the process.
fn bind_private(path: &Path) -> Result<std::os::unix::net::UnixListener, HookError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let dir = parent.join(format!(".hook-{}", hex(&random_bytes::<6>()?)));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| {
            HookError::io(
                "creating a private directory to bind the hook socket in",
                &dir,
                e,
            )
        })?;
    let staged = dir.join("s");
    let bound = (|| {
        let listener = std::os::unix::net::UnixListener::bind(&staged)
            .map_err(|e| HookError::io("binding the hook socket", &staged, e))?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| HookError::io("restricting the hook socket to its owner", &staged, e))?;
        std::fs::hard_link(&staged, path)
            .map_err(|e| HookError::io("placing the hook socket", path, e))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&dir);
    bound
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

/// A daemon that completed the handshake, waiting for its session.
struct Authenticated {
    reader: Reader,
    writer: OwnedWriteHalf,
    daemon: String,
}

/// What every handshake task needs.
struct Handshaker {
    key: Key,
    node: String,
    timeout: Duration,
    uid: u32,
}

/// Runs sessions with authenticated daemons one after another, while accepting and
/// authenticating new connections side by side with them.
pub(crate) async fn run(core: &mut Core, transport: SocketTransport) -> Result<(), HookError> {
    let SocketTransport {
        listener,
        path,
        key,
    } = transport;
    let listener = UnixListener::from_std(listener)
        .map_err(|e| HookError::io("registering the hook socket with tokio", &path, e))?;
    tracing::info!(path = %path.display(), secret_file = %key.file.display(), "commit hook socket listening");
    let handshaker = Arc::new(Handshaker {
        key,
        node: core.opts.node.clone(),
        timeout: core.opts.handshake_timeout(),
        uid: rustix::process::geteuid().as_raw(),
    });
    let (authenticated_tx, mut authenticated) = mpsc::unbounded_channel();
    // Polled together with the sessions below, never spawned: dropping `run` closes the
    // listener (and aborts the handshakes in flight) at once.
    let accepting = accept(listener, handshaker, authenticated_tx);
    tokio::pin!(accepting);
    loop {
        let Authenticated {
            reader,
            writer,
            daemon,
        } = tokio::select! {
            never = &mut accepting => match never {},
            next = authenticated.recv() => next.expect("the accept loop holds a sender"),
        };
        tracing::info!(%daemon, "daemon connected to the commit hook");
        let mut link = SocketLink {
            reader,
            writer,
            others: &mut authenticated,
            refusal: format!(
                "this store already delivers its commits to daemon {daemon:?} on {}; a store has one daemon at a time: stop the other daemon or point this one at its own store's socket",
                path.display()
            ),
        };
        tokio::select! {
            never = &mut accepting => match never {},
            ended = core.session(&mut link) => ended?,
        }
        tracing::info!(%daemon, "daemon left the commit hook; unacknowledged commits stay in the outbox");
    }
}

/// Accepts connections forever and authenticates each in a task of its own; the
/// daemons that pass go to `authenticated`.
async fn accept(
    listener: UnixListener,
    handshaker: Arc<Handshaker>,
    authenticated: mpsc::UnboundedSender<Authenticated>,
) -> Infallible {
    // Dropped with this future: the handshakes still running are aborted.
    let mut handshakes = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    handshakes.spawn(handshake(stream, Arc::clone(&handshaker), authenticated.clone()));
                }
                Err(error) => {
                    // Typically out of file descriptors: wait instead of spinning.
                    tracing::warn!(%error, "accepting a daemon on the hook socket failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reaps finished handshakes so that the set does not grow.
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => {}
        }
    }
}

/// One connection's handshake, bounded by the handshake timeout. A peer that fails it
/// gets an `Error` saying why and is closed, having received no notice.
async fn handshake(
    stream: UnixStream,
    handshaker: Arc<Handshaker>,
    authenticated: mpsc::UnboundedSender<Authenticated>,
) {
    let peer_uid = stream.peer_cred().map(|cred| cred.uid());
    let (rd, mut writer) = stream.into_split();
    let mut reader = FrameReader::new(rd);
    let checked = match peer_uid {
        Ok(uid) if uid == handshaker.uid => {
            let exchange =
                handshake::as_store(&mut reader, &mut writer, &handshaker.node, &handshaker.key);
            match tokio::time::timeout(handshaker.timeout, exchange).await {
                Ok(checked) => checked,
                Err(_) => Err(HookError::HandshakeTimeout {
                    after_ms: handshaker.timeout.as_millis() as u64,
                }),
            }
        }
        Ok(uid) => Err(HookError::PeerUid {
            theirs: uid,
            ours: handshaker.uid,
        }),
        Err(e) => Err(HookError::Connection(e)),
    };
    match checked {
        Ok(daemon) => {
            // Fails only when the dispatcher is stopping.
            let _ = authenticated.send(Authenticated {
                reader,
                writer,
                daemon,
            });
        }
        Err(error) => {
            tracing::warn!(%error, "refused a connection on the hook socket");
            if !matches!(
                error,
                HookError::Connection(_) | HookError::ConnectionClosed
            ) {
                send_error(&mut writer, &error.to_string()).await;
            }
        }
    }
}

/// Turns away a second daemon while one is connected.
async fn refuse(mut other: Authenticated, message: String) {
    tracing::warn!(daemon = %other.daemon, "refused a second daemon on the hook socket: {message}");
    send_error(&mut other.writer, &message).await;
}

/// One daemon connection during its session.
struct SocketLink<'a> {
    reader: Reader,
    writer: OwnedWriteHalf,
    /// Daemons that authenticated during this session: each is refused.
    others: &'a mut mpsc::UnboundedReceiver<Authenticated>,
    refusal: String,
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
                Some(other) = self.others.recv() => {
                    // Spawned: the refusal must not hold up the session.
                    tokio::spawn(refuse(other, self.refusal.clone()));
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

//! The hook socket's handshake, both sides: `Hello`s, `Challenge`s, `Proof`s (the
//! sequence is described in [`crate::wire`]).
//!
//! Neither function has a timeout of its own: the caller bounds the whole exchange, so
//! that a peer that sends its frames one byte at a time cannot stretch it.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::secret::{random_bytes, NONCE_LEN};
use crate::wire::{encode_frame, write_frame, FrameReader, Role, WireMessage, PROTOCOL_VERSION};
use crate::{HookError, HookSecret};

/// How long a refusal or a protocol error message may take to write before the
/// connection is dropped without it.
const ERROR_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) type Reader = FrameReader<OwnedReadHalf>;

/// The secret one side proves itself with, and the file it was read from (named in
/// errors, so that an operator knows which file to hand to the other side).
#[derive(Debug)]
pub(crate) struct Key {
    pub(crate) secret: HookSecret,
    pub(crate) file: PathBuf,
}

impl Key {
    fn unauthenticated(&self, reason: String) -> HookError {
        HookError::Unauthenticated {
            reason,
            secret_file: self.file.clone(),
        }
    }
}

/// The store's side. Returns the daemon's node name once the daemon has proven that it
/// holds the secret and the store has sent its own proof; only then may notices flow.
pub(crate) async fn as_store(
    rd: &mut Reader,
    wr: &mut OwnedWriteHalf,
    node: &str,
    key: &Key,
) -> Result<String, HookError> {
    let (daemon, store_nonce, daemon_nonce) = greet(rd, wr, node, Role::Store, key).await?;
    let proof = match next_message(rd).await? {
        WireMessage::Proof { mac } => mac,
        other => {
            return Err(
                key.unauthenticated(format!("it sent {} where its Proof was due", other.kind()))
            )
        }
    };
    if !key
        .secret
        .verify(Role::Daemon, &store_nonce, &daemon_nonce, &proof)
    {
        return Err(key.unauthenticated("its Proof does not match".into()));
    }
    let ours = key.secret.proof(Role::Store, &store_nonce, &daemon_nonce);
    write_frame(wr, &WireMessage::Proof { mac: ours.to_vec() }).await?;
    Ok(daemon)
}

/// The daemon's side. Returns the store's node name once both proofs checked out.
pub(crate) async fn as_daemon(
    rd: &mut Reader,
    wr: &mut OwnedWriteHalf,
    node: &str,
    key: &Key,
) -> Result<String, HookError> {
    let (store, daemon_nonce, store_nonce) = greet(rd, wr, node, Role::Daemon, key).await?;
    let ours = key.secret.proof(Role::Daemon, &store_nonce, &daemon_nonce);
    write_frame(wr, &WireMessage::Proof { mac: ours.to_vec() }).await?;
    // An `Error` here (the store refused our proof) comes back as `Refused`.
    let checked = match next_message(rd).await? {
        WireMessage::Proof { mac }
            if key
                .secret
                .verify(Role::Store, &store_nonce, &daemon_nonce, &mac) =>
        {
            Ok(store)
        }
        WireMessage::Proof { .. } => Err(key.unauthenticated(
            "the store's Proof does not match: the socket is not this daemon's store's, or the two use different secret files".into(),
        )),
        other => Err(key.unauthenticated(format!(
            "the store sent {} where its Proof was due",
            other.kind()
        ))),
    };
    if let Err(error) = &checked {
        send_error(wr, &error.to_string()).await;
    }
    checked
}

/// Sends our `Hello` and `Challenge`, reads and checks the peer's. Returns the peer's
/// node name, our nonce and theirs.
async fn greet(
    rd: &mut Reader,
    wr: &mut OwnedWriteHalf,
    node: &str,
    ours: Role,
    key: &Key,
) -> Result<(String, [u8; NONCE_LEN], [u8; NONCE_LEN]), HookError> {
    let our_nonce = random_bytes::<NONCE_LEN>()?;
    // Both frames in one write: ours first, so that even a refused peer learns our
    // version.
    let mut frames = encode_frame(&WireMessage::hello(node, ours))?;
    frames.extend(encode_frame(&WireMessage::Challenge {
        nonce: our_nonce.to_vec(),
    })?);
    wr.write_all(&frames).await.map_err(HookError::Connection)?;
    wr.flush().await.map_err(HookError::Connection)?;
    let expected = match ours {
        Role::Store => Role::Daemon,
        Role::Daemon => Role::Store,
    };
    let peer = match read_hello(rd).await? {
        (peer, role) if role == expected => peer,
        (_, theirs) => return Err(HookError::WrongRole { expected, theirs }),
    };
    let their_nonce = match next_message(rd).await? {
        WireMessage::Challenge { nonce } => {
            let len = nonce.len();
            <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| {
                key.unauthenticated(format!(
                    "its Challenge nonce is {len} bytes, expected {NONCE_LEN}"
                ))
            })?
        }
        other => {
            return Err(HookError::UnexpectedMessage {
                expected: "Challenge",
                got: other.kind(),
            })
        }
    };
    Ok((peer, our_nonce, their_nonce))
}

/// Reads the peer's `Hello` and checks its version.
async fn read_hello(rd: &mut Reader) -> Result<(String, Role), HookError> {
    match next_message(rd).await? {
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
        other => Err(HookError::UnexpectedMessage {
            expected: "Hello",
            got: other.kind(),
        }),
    }
}

/// The next message of the handshake; a closed connection is an error, and so is an
/// `Error` frame (the peer refused us and said why).
async fn next_message(rd: &mut Reader) -> Result<WireMessage, HookError> {
    match rd.next().await? {
        None => Err(HookError::ConnectionClosed),
        Some(WireMessage::Error { message }) => Err(HookError::Refused { message }),
        Some(msg) => Ok(msg),
    }
}

/// Best effort: tells the peer why it is being dropped.
pub(crate) async fn send_error(wr: &mut OwnedWriteHalf, message: &str) {
    let msg = WireMessage::Error {
        message: message.to_owned(),
    };
    let _ = tokio::time::timeout(ERROR_WRITE_TIMEOUT, write_frame(wr, &msg)).await;
}

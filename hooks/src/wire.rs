//! The hook protocol on the Unix socket: length-prefixed MessagePack frames.
//!
//! A frame is a `u32` big-endian body length followed by the body, one [`WireMessage`]
//! encoded with rmp-serde (named fields). Bodies over [`MAX_FRAME_LEN`] are refused
//! before any memory is reserved for them.
//!
//! A session (version 2):
//!
//! 1. On connect both sides send [`WireMessage::Hello`] and then
//!    [`WireMessage::Challenge`] (a fresh random nonce) at once; each checks the other's
//!    version and role.
//! 2. The daemon answers the store's challenge with [`WireMessage::Proof`]: an
//!    HMAC-SHA256 of both nonces keyed with the hook secret
//!    ([`crate::HookSecret::proof`]). The store checks it in constant time; a wrong or
//!    missing proof gets [`WireMessage::Error`] (naming the store's secret file) and the
//!    connection is closed before any notice is sent.
//! 3. The store answers with its own `Proof`, which the daemon checks before it takes
//!    any notice, so that a process squatting the socket path cannot feed it notices.
//! 4. The store may still refuse with `Error` and close (it already has a daemon).
//!    Otherwise it sends [`WireMessage::Notice`]s and the daemon answers with
//!    [`WireMessage::Ack`] (the commit is fully processed: remove it) or
//!    [`WireMessage::Release`] (the daemon dropped it unprocessed: free its window
//!    slot, keep it in the outbox).
//!
//! The secret never crosses the socket, and the store never sends its proof to a peer
//! that has not proven itself.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{CommitNotice, HookError};

/// The hook protocol version this build speaks. Bumped with any change of
/// [`WireMessage`] or of [`CommitNotice`] (2: the handshake proves the hook secret).
/// `Hello` stays the first variant with the same fields forever, so that any two
/// versions can tell each other apart.
pub const PROTOCOL_VERSION: u16 = 2;

/// The largest frame body accepted or sent, in bytes (16 MiB). Real messages are a few
/// hundred bytes; anything near this is a broken or foreign peer.
pub const MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;

/// Which end of the hook protocol a peer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The store: listens, sends notices.
    Store,
    /// The daemon: connects, acknowledges notices.
    Daemon,
}

/// One message of the hook protocol.
///
/// A session (version 2): each side sends `Hello` and `Challenge` at once; the daemon
/// sends its `Proof` for both nonces; the store checks it (an `Error` and a close if it
/// is wrong or missing) and sends its own `Proof`, which the daemon checks; then the
/// store sends `Notice`s and the daemon answers each with `Ack` or `Release`. Either
/// side may send `Error` and close at any point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireMessage {
    /// First message of each side.
    Hello {
        /// [`PROTOCOL_VERSION`] of the sender.
        protocol_version: u16,
        /// The sender's node name, for logs.
        node: String,
        /// The sender's role.
        role: Role,
    },
    /// Each side, right after its `Hello`: a fresh random nonce of
    /// [`crate::NONCE_LEN`] bytes that the other side's [`WireMessage::Proof`] must cover.
    Challenge {
        /// The nonce.
        nonce: Vec<u8>,
    },
    /// The sender's proof that it holds the hook secret: [`crate::HookSecret::proof`]
    /// for the sender's role and both sides' nonces. The daemon sends it after reading
    /// the store's challenge; the store sends it once the daemon's proof checked out.
    Proof {
        /// HMAC-SHA256, [`crate::NONCE_LEN`] bytes.
        mac: Vec<u8>,
    },
    /// Store to daemon: a commit to process.
    Notice(CommitNotice),
    /// Daemon to store: the commit is fully processed; remove it from the outbox.
    Ack {
        /// The acknowledged commit.
        commit_id: u64,
    },
    /// Daemon to store: the daemon dropped this notice without processing it. The store
    /// frees its window slot and keeps it in the outbox for the next session.
    Release {
        /// The released commit.
        commit_id: u64,
    },
    /// Either side: the connection is refused or broken, and why. The sender closes
    /// the connection after it.
    Error {
        /// What went wrong and what to do.
        message: String,
    },
}

impl WireMessage {
    /// The variant's name, for errors and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            WireMessage::Hello { .. } => "Hello",
            WireMessage::Challenge { .. } => "Challenge",
            WireMessage::Proof { .. } => "Proof",
            WireMessage::Notice(_) => "Notice",
            WireMessage::Ack { .. } => "Ack",
            WireMessage::Release { .. } => "Release",
            WireMessage::Error { .. } => "Error",
        }
    }

    /// Our own `Hello` for `role`.
    pub(crate) fn hello(node: &str, role: Role) -> WireMessage {
        WireMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
            node: node.to_owned(),
            role,
        }
    }
}

/// Encodes `msg` as one frame: length prefix and body.
pub fn encode_frame(msg: &WireMessage) -> Result<Vec<u8>, HookError> {
    let body = rmp_serde::to_vec_named(msg).map_err(|source| HookError::Encode {
        what: "a hook protocol message",
        source,
    })?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&len| len <= MAX_FRAME_LEN)
        .ok_or(HookError::FrameTooLarge {
            len: body.len() as u64,
            max: MAX_FRAME_LEN,
        })?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Writes `msg` as one frame and flushes. Not cancel-safe: do not race it in a
/// `select!`.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &WireMessage,
) -> Result<(), HookError> {
    let frame = encode_frame(msg)?;
    w.write_all(&frame).await.map_err(HookError::Connection)?;
    w.flush().await.map_err(HookError::Connection)
}

/// Reads frames from a byte stream.
///
/// [`FrameReader::next`] is cancel-safe: bytes of a partly received frame stay in the
/// reader's buffer, so it may be raced in a `select!` against other events.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a byte stream.
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader {
            inner,
            buf: Vec::new(),
        }
    }

    /// The next message; `Ok(None)` when the peer closed the stream between frames.
    pub async fn next(&mut self) -> Result<Option<WireMessage>, HookError> {
        loop {
            if let Some(msg) = self.take_frame()? {
                return Ok(Some(msg));
            }
            let n = self
                .inner
                .read_buf(&mut self.buf)
                .await
                .map_err(HookError::Connection)?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(HookError::ConnectionClosed)
                };
            }
        }
    }

    /// Decodes and removes one complete frame from the buffer, if there is one.
    fn take_frame(&mut self) -> Result<Option<WireMessage>, HookError> {
        let Some(header) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header);
        if len > MAX_FRAME_LEN {
            return Err(HookError::FrameTooLarge {
                len: u64::from(len),
                max: MAX_FRAME_LEN,
            });
        }
        let end = 4 + len as usize;
        if self.buf.len() < end {
            // Reserve once for the whole frame instead of growing in small steps.
            self.buf.reserve(end - self.buf.len());
            return Ok(None);
        }
        let msg = rmp_serde::from_slice(&self.buf[4..end]).map_err(|source| HookError::Decode {
            what: "a hook protocol frame",
            source,
        });
        self.buf.drain(..end);
        msg.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_even_when_split() {
        let msgs = vec![
            WireMessage::hello("n1", Role::Store),
            WireMessage::Ack { commit_id: 42 },
            WireMessage::Error {
                message: "no".into(),
            },
        ];
        let mut bytes = Vec::new();
        for m in &msgs {
            bytes.extend(encode_frame(m).unwrap());
        }
        // Deliver the bytes one at a time to exercise partial frames.
        let (mut tx, rx) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            for b in bytes {
                tx.write_all(&[b]).await.unwrap();
            }
        });
        let mut reader = FrameReader::new(rx);
        for m in &msgs {
            assert_eq!(reader.next().await.unwrap().as_ref(), Some(m));
        }
        writer.await.unwrap();
        assert!(reader.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_before_reading_the_body() {
        let header = (MAX_FRAME_LEN + 1).to_be_bytes();
        let mut reader = FrameReader::new(&header[..]);
        match reader.next().await {
            Err(HookError::FrameTooLarge { len, max }) => {
                assert_eq!(len, u64::from(MAX_FRAME_LEN) + 1);
                assert_eq!(max, MAX_FRAME_LEN);
            }
            other => panic!("expected FrameTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn oversized_message_is_not_sent() {
        let msg = WireMessage::Error {
            message: "x".repeat(MAX_FRAME_LEN as usize + 1),
        };
        assert!(matches!(
            encode_frame(&msg),
            Err(HookError::FrameTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn eof_inside_a_frame_is_an_error() {
        let mut frame = encode_frame(&WireMessage::Ack { commit_id: 1 }).unwrap();
        frame.pop();
        let mut reader = FrameReader::new(&frame[..]);
        assert!(matches!(
            reader.next().await,
            Err(HookError::ConnectionClosed)
        ));
    }
}

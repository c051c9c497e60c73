//! Hand-driven peers of the hook protocol: they write and read the frames themselves, so
//! that tests can do what a real daemon or store never would (stay silent, skip the
//! proof, prove with the wrong secret, send oversized frames).

use std::path::Path;

use epochd_hooks::{write_frame, FrameReader, HookSecret, Role, WireMessage, PROTOCOL_VERSION};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::support::within;

/// The nonces hand-driven peers use: any 32 bytes do for a test.
pub const DAEMON_NONCE: [u8; 32] = [0xd0; 32];
pub const STORE_NONCE: [u8; 32] = [0x50; 32];

/// The secret the store at socket `path` created by default.
pub fn store_secret(path: &Path) -> HookSecret {
    HookSecret::load(&HookSecret::default_path(path)).unwrap()
}

/// One end of a hand-driven connection.
pub struct Peer {
    pub reader: FrameReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    /// The other side's challenge nonce, once read.
    pub their_nonce: Vec<u8>,
}

impl Peer {
    pub fn new(stream: UnixStream) -> Peer {
        let (rd, writer) = stream.into_split();
        Peer {
            reader: FrameReader::new(rd),
            writer,
            their_nonce: Vec::new(),
        }
    }

    pub async fn send(&mut self, msg: &WireMessage) {
        write_frame(&mut self.writer, msg).await.unwrap();
    }

    /// The next frame; `None` when the other side closed.
    pub async fn next(&mut self) -> Option<WireMessage> {
        within("a frame", self.reader.next()).await.unwrap()
    }

    /// Reads the store's `Hello` (this build's version) and its `Challenge`.
    pub async fn expect_store_hello_and_challenge(&mut self) {
        match self.next().await {
            Some(WireMessage::Hello {
                protocol_version: PROTOCOL_VERSION,
                role: Role::Store,
                ..
            }) => {}
            other => panic!("expected the store's Hello, got {other:?}"),
        }
        match self.next().await {
            Some(WireMessage::Challenge { nonce }) => self.their_nonce = nonce,
            other => panic!("expected the store's Challenge, got {other:?}"),
        }
    }

    pub async fn expect_error(&mut self) -> String {
        match self.next().await {
            Some(WireMessage::Error { message }) => message,
            other => panic!("expected an Error frame, got {other:?}"),
        }
    }

    /// Reads until the other side closes; returns what came before.
    pub async fn until_closed(&mut self) -> Vec<WireMessage> {
        within("the other side to close the connection", async {
            let mut seen = Vec::new();
            while let Ok(Some(msg)) = self.reader.next().await {
                seen.push(msg);
            }
            seen
        })
        .await
    }

    /// Sends the daemon's `Proof` made with `secret` for the store's challenge.
    pub async fn prove_as_daemon(&mut self, secret: &HookSecret) {
        let mac = secret.proof(Role::Daemon, &self.their_nonce, &DAEMON_NONCE);
        self.send(&WireMessage::Proof { mac: mac.to_vec() }).await;
    }
}

/// Connects to the store at `path` as a daemon and sends `Hello` (with `version`) and
/// its `Challenge`; reads nothing yet.
pub async fn hello_as_daemon(path: &Path, version: u16) -> Peer {
    let mut peer = Peer::new(UnixStream::connect(path).await.unwrap());
    peer.send(&WireMessage::Hello {
        protocol_version: version,
        node: "raw".into(),
        role: Role::Daemon,
    })
    .await;
    peer.send(&WireMessage::Challenge {
        nonce: DAEMON_NONCE.to_vec(),
    })
    .await;
    peer
}

/// A daemon that completes the handshake with `secret`: it has read the store's proof
/// and checked it.
pub async fn authenticated_daemon(path: &Path, secret: &HookSecret) -> Peer {
    let mut peer = hello_as_daemon(path, PROTOCOL_VERSION).await;
    peer.expect_store_hello_and_challenge().await;
    peer.prove_as_daemon(secret).await;
    let expected = secret.proof(Role::Store, &peer.their_nonce, &DAEMON_NONCE);
    match peer.next().await {
        Some(WireMessage::Proof { mac }) => assert_eq!(mac, expected, "the store's proof"),
        other => panic!("expected the store's Proof, got {other:?}"),
    }
    peer
}

/// A fake store's side of the handshake on an accepted connection, proving itself with
/// `secret` (a real daemon checks it). Returns once the daemon's proof is read (it is
/// not checked).
pub async fn fake_store_handshake(stream: UnixStream, secret: &HookSecret) -> Peer {
    let mut peer = Peer::new(stream);
    peer.send(&WireMessage::Hello {
        protocol_version: PROTOCOL_VERSION,
        node: "fake".into(),
        role: Role::Store,
    })
    .await;
    peer.send(&WireMessage::Challenge {
        nonce: STORE_NONCE.to_vec(),
    })
    .await;
    assert!(matches!(
        peer.next().await,
        Some(WireMessage::Hello {
            role: Role::Daemon,
            ..
        })
    ));
    match peer.next().await {
        Some(WireMessage::Challenge { nonce }) => peer.their_nonce = nonce,
        other => panic!("expected the daemon's Challenge, got {other:?}"),
    }
    assert!(matches!(peer.next().await, Some(WireMessage::Proof { .. })));
    let mac = secret.proof(Role::Store, &STORE_NONCE, &peer.their_nonce);
    peer.send(&WireMessage::Proof { mac: mac.to_vec() }).await;
    peer
}

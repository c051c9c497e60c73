//! Entry points for the fuzz targets in `fuzz/`: the handshake is
//! crate-private and runs over a Unix socket, so it is reached through here.
//! Not part of the crate's API; nothing else should call it.

use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::handshake::{as_daemon, as_store, Key};
use crate::wire::{FrameReader, Role};
use crate::{HookError, HookSecret};

/// Runs our side of the handshake (`ours`) against a peer that sends
/// exactly `peer` and then closes its end. Returns what the handshake
/// returned. What our side writes is read and dropped, so it never blocks.
/// Needs a tokio runtime with IO and time enabled.
#[doc(hidden)]
pub async fn handshake(ours: Role, peer: &[u8]) -> Result<String, HookError> {
    let (our_end, their_end) = UnixStream::pair().map_err(HookError::Connection)?;
    let (rd, mut wr) = our_end.into_split();
    let (mut their_rd, mut their_wr) = their_end.into_split();
    let key = Key {
        // Random, like a real one: no fuzz input can forge a proof for it,
        // which is the point; everything before the proof is reachable.
        secret: HookSecret::generate()?,
        file: PathBuf::from("fuzz.secret"),
    };
    let handshake = async move {
        let mut rd = FrameReader::new(rd);
        let result = match ours {
            Role::Store => as_store(&mut rd, &mut wr, "fuzz-store", &key).await,
            Role::Daemon => as_daemon(&mut rd, &mut wr, "fuzz-daemon", &key).await,
        };
        // Closing our end ends the peer's drain below.
        drop(wr);
        result
    };
    let feed = async move {
        let _ = their_wr.write_all(peer).await;
        let _ = their_wr.shutdown().await;
    };
    let drain = async move {
        let mut sink = Vec::new();
        let _ = their_rd.read_to_end(&mut sink).await;
    };
    let (result, (), ()) = tokio::join!(handshake, feed, drain);
    result
}

//! The hook wire codec (hooks/src/wire.rs: length-prefixed MessagePack
//! frames), the commit notice (hooks/src/notice.rs) and the handshake
//! (hooks/src/handshake.rs), fed what a peer on the hook socket could send.
//!
//! Input: one mode byte (low two bits), then the bytes: 0 a stream of
//! frames; 1 a stored commit notice; 2 the handshake, our side the store,
//! the bytes the daemon's; 3 the same, our side the daemon.
//!
//! Properties: nothing panics or hangs; a decoded message encodes to a
//! frame that decodes back to it; a decoded notice round-trips; the
//! handshake never succeeds (no input can hold the proof of a secret it
//! never saw).
#![no_main]

use std::sync::OnceLock;

use epochd_hooks::{encode_frame, CommitNotice, FrameReader, Role};
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

/// One single-threaded runtime for every input: the socket pair and the
/// handshake's timeouts need its IO and time drivers.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode & 3 {
        0 => runtime().block_on(frames(rest)),
        1 => {
            if let Ok(notice) = CommitNotice::decode(rest) {
                assert_eq!(CommitNotice::decode(&notice.encode()).ok(), Some(notice));
            }
        }
        2 | 3 => {
            let ours = if mode & 3 == 2 {
                Role::Store
            } else {
                Role::Daemon
            };
            let result = runtime().block_on(epochd_hooks::fuzzing::handshake(ours, rest));
            assert!(result.is_err(), "a handshake without the secret succeeded");
        }
        _ => unreachable!(),
    }
});

/// Reads frames until the stream ends or breaks.
async fn frames(bytes: &[u8]) {
    let mut reader = FrameReader::new(bytes);
    while let Ok(Some(msg)) = reader.next().await {
        let frame = encode_frame(&msg).expect("a decoded message encodes");
        let mut again = FrameReader::new(&frame[..]);
        assert_eq!(again.next().await.ok().flatten().as_ref(), Some(&msg));
    }
}

//! The daemon's columnar decoder (daemon/decode: `epochd_decode::decode`),
//! on any chunk bytes.
//!
//! Input: one mode byte, then chunk bytes; chunks are cut at each `0xc1`
//! (a byte MessagePack never uses, so a seed of real events stays whole).
//! Mode (low two bits): 0 the bytes are the stored (zstd) chunks as they
//! are; 1 they are raw MessagePack, compressed first with the store's own
//! `compress` so the MessagePack stage is reached; 2 the same through
//! `decode_raw`; 3 as 1, all in one chunk. Bits 2..3 pick the dc, some of
//! which the shared memory's name cannot hold.
//!
//! Properties: nothing panics; a decoded epoch is written to a sealed
//! memfd, verifies, and keeps the layout's rules (columns in order, values
//! and rows agreeing, dictionary ids in range; see src/epoch_check.rs).
#![no_main]

use epochd_decode::{decode, decode_raw, EpochMeta};
use epochd_fuzz::epoch_check;
use libfuzzer_sys::fuzz_target;

/// At most this many chunks: each is decoded on its own, then merged.
const MAX_CHUNKS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dc = match (mode >> 2) & 3 {
        0 => "ams4".to_owned(),
        1 => String::new(),
        2 => "a\0b".to_owned(),
        _ => "x".repeat(300),
    };
    let meta = EpochMeta {
        epoch: 1_700_000_000,
        dc,
        seq: 0,
    };
    let chunks: Vec<&[u8]> = if mode & 3 == 3 {
        vec![rest]
    } else {
        rest.split(|b| *b == 0xc1).take(MAX_CHUNKS).collect()
    };
    let decoded = match mode & 3 {
        0 => decode(meta, &chunks),
        2 => decode_raw(meta, &chunks),
        _ => {
            let blobs: Vec<Vec<u8>> = chunks
                .iter()
                .map(|c| epochd_store::compress(c, 1))
                .collect();
            decode(meta, &blobs)
        }
    };
    let Ok(epoch) = decoded else {
        return;
    };
    assert!(!epoch.is_empty());
    let view = epoch.view();
    if let Err(broken) = epoch_check::check(&view) {
        panic!("the decoded epoch breaks the layout: {broken}");
    }
});

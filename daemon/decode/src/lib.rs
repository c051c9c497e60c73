//! Decode a commit once, into a columnar epoch in shared memory.
//!
//! The daemon receives a commit notice, reads the commit's chunks (zstd
//! frames of MessagePack events) and calls [`decode`]: chunks are
//! decompressed and decoded in parallel, each into columns (one per field
//! path and type, row ids for sparse fields, dictionary-coded strings, one
//! container per dynamic-key map or array), then merged and written as a
//! FlatBuffer (schema `sdk/schema/epoch.fbs`) into a sealed memfd
//! ([`SharedEpoch`]) that every job reads without a copy of its own.
//!
//! # Guarantees
//! - Lossless: every event's every value can be read back from the columns
//!   (values with no column form are kept as MessagePack in `Raw` columns).
//! - Sealed: once a [`SharedEpoch`] exists its bytes cannot change (memfd
//!   seals `F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`); it
//!   is freed when the last handle is dropped.
//! - Malformed chunk data is an error, never a panic.
//!
//! # Example
//! ```
//! use epochd_decode::{decode, EpochMeta, ValueType};
//! let event = rmp_serde::to_vec_named(&serde_json::json!({
//!     "timestamp": 1700000000.5, "type": "WEB", "tuning": {"wallclock": 120}
//! })).unwrap();
//! let blob = epochd_codec::compress(&event, 3);
//! let meta = EpochMeta { epoch: 1700000000, dc: "ams4".into(), seq: 0 };
//! let epoch = decode(meta, &[blob]).unwrap();
//! let view = epoch.view();
//! assert_eq!(view.rows(), 1);
//! let wallclock = view.columns().unwrap().iter()
//!     .find(|c| c.path() == Some("tuning.wallclock") && c.type_() == ValueType::Int)
//!     .unwrap();
//! assert_eq!(wallclock.ints().unwrap().get(0), 120);
//! ```
#![deny(missing_docs)]

pub mod alloc;
mod chunk;
mod error;
mod flat;
mod intern;
mod merge;
mod reader;
mod schema;
mod shared;
mod write;

use rayon::prelude::*;

pub use chunk::MAX_STRUCT_KEYS;
pub use error::DecodeError;
pub use schema::{Blobs, Column, Container, ContainerKind, Epoch, ValueType, EPOCH_IDENTIFIER};
pub use shared::SharedEpoch;
pub use write::{EpochMeta, LAYOUT_VERSION};

/// Decodes a commit's chunk blobs (in manifest order) into a shared epoch.
pub fn decode(
    meta: EpochMeta,
    blobs: &[impl AsRef<[u8]> + Sync],
) -> Result<SharedEpoch, DecodeError> {
    let raws: Vec<Vec<u8>> = blobs
        .par_iter()
        .enumerate()
        .map(|(i, blob)| {
            epochd_codec::decompress(blob.as_ref())
                .map_err(|reason| DecodeError::Chunk { index: i, reason })
        })
        .collect::<Result<_, _>>()?;
    decode_raw(meta, &raws)
}

/// Decodes raw (decompressed) chunks into a shared epoch.
pub fn decode_raw(
    meta: EpochMeta,
    raws: &[impl AsRef<[u8]> + Sync],
) -> Result<SharedEpoch, DecodeError> {
    let chunks = raws
        .par_iter()
        .enumerate()
        .map(|(index, raw)| {
            chunk::ChunkColumns::decode(raw.as_ref()).map_err(|e| match e {
                // Which chunk is bad, so that its key can be named.
                DecodeError::Malformed(reason) => DecodeError::MalformedChunk { index, reason },
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let merged = merge::merge(chunks)?;
    write::write(meta, &merged)
}

//! The chunk codec of epochd: how a chunk's raw MessagePack events are
//! framed on disk and on the wire, as one zstd frame.
//!
//! A crate of its own so that readers of chunks (the decoder) need not
//! depend on the whole store; `epochd-store` re-exports these items from
//! the same paths as before (`epochd_store::compress`, ...).
//!
//! # Guarantees
//! - [`compress`] writes one frame that declares its content size, so each
//!   chunk is decodable on its own.
//! - [`decompress`] never allocates more than [`MAX_RAW_CHUNK_BYTES`],
//!   whatever a frame header claims, and returns exactly the bytes the
//!   frame declares, or an error (never a panic) for anything else:
//!   garbage, a frame without its size, a truncated frame.
#![deny(missing_docs)]

/// Largest raw (decompressed) chunk the store will decode, so a hostile
/// frame header cannot make it allocate without bound.
pub const MAX_RAW_CHUNK_BYTES: usize = 256 << 20;

/// Compresses raw MessagePack events into a chunk blob.
pub fn compress(raw: &[u8], level: i32) -> Vec<u8> {
    zstd::bulk::compress(raw, level).expect("zstd compression into memory cannot fail")
}

/// Decompresses a chunk blob back into raw MessagePack events.
pub fn decompress(blob: &[u8]) -> Result<Vec<u8>, String> {
    let size = match zstd::zstd_safe::get_frame_content_size(blob) {
        Ok(Some(size)) => size,
        Ok(None) => return Err("the zstd frame does not declare its content size".into()),
        Err(_) => return Err("not a zstd frame".into()),
    };
    let size = usize::try_from(size)
        .ok()
        .filter(|s| *s <= MAX_RAW_CHUNK_BYTES)
        .ok_or_else(|| {
            format!("declares {size} raw bytes, over the limit of {MAX_RAW_CHUNK_BYTES}")
        })?;
    let raw = zstd::bulk::decompress(blob, size).map_err(|e| format!("zstd: {e}"))?;
    if raw.len() != size {
        return Err(format!(
            "decoded {} bytes, the frame declares {size}",
            raw.len()
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip() {
        // Raw bytes need not be MessagePack here: the framing does not look
        // inside (splitting into events is the store's, `split_events`).
        let raw: Vec<u8> = (0..100u32)
            .flat_map(|i| format!("{{\"i\": {i}, \"timestamp\": 1, \"type\": \"A\"}}").into_bytes())
            .collect();
        let blob = compress(&raw, 3);
        assert!(blob.len() < raw.len());
        assert_eq!(decompress(&blob).unwrap(), raw);
    }

    #[test]
    fn garbage_is_not_a_chunk() {
        assert!(decompress(b"not zstd")
            .unwrap_err()
            .contains("not a zstd frame"));
        let blob = compress(&[0x80; 1000], 3);
        assert!(
            decompress(&blob[..blob.len() - 2]).is_err(),
            "a truncated frame"
        );
    }

    #[test]
    fn a_frame_declaring_too_much_is_refused_before_allocating() {
        // A bare frame header: magic, then a descriptor saying "single
        // segment, 8-byte content size", then the size. Nothing follows.
        let mut header = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
        header.extend((MAX_RAW_CHUNK_BYTES as u64 + 1).to_le_bytes());
        assert!(decompress(&header).unwrap_err().contains("over the limit"));
    }
}

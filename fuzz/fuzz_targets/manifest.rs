//! Commit manifests (store/src/manifest.rs) as stored (MessagePack) and as
//! relocators send them (JSON), and chunk and manifest keys
//! (store/src/key.rs) in their text and binary forms, on any bytes.
//!
//! Input: one mode byte (low two bits), then the bytes: 0 a stored
//! manifest, 1 a JSON manifest, 2 a text chunk key, 3 binary keys.
//!
//! Properties: nothing panics (`check` included, whatever the numbers); a
//! manifest that decodes encodes and decodes back to itself; keys that
//! parse print and parse, or encode and decode, back to themselves.
#![no_main]

use epochd_store::{ChunkKey, Manifest, ManifestKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode & 3 {
        0 => {
            if let Ok(manifest) = Manifest::decode(rest) {
                manifest_round_trip(manifest);
            }
        }
        1 => {
            if let Ok(manifest) = serde_json::from_slice::<Manifest>(rest) {
                manifest_round_trip(manifest);
            }
        }
        2 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            if let Ok(key) = ChunkKey::parse(text) {
                assert_eq!(ChunkKey::parse(&key.to_string()).as_ref(), Ok(&key));
                assert_eq!(ChunkKey::decode(&key.encode()).as_ref(), Some(&key));
            }
        }
        _ => {
            if let Some(key) = ChunkKey::decode(rest) {
                assert_eq!(key.encode(), rest, "{key:?}");
            }
            if let Some(key) = ManifestKey::decode(rest) {
                assert_eq!(key.encode(), rest, "{key:?}");
            }
        }
    }
});

/// Checks it (the verdict is not the point: not panicking is), then its
/// stored form round-trips, and its chunks' keys are valid when it is.
fn manifest_round_trip(manifest: Manifest) {
    let checked = manifest.check();
    let encoded = manifest.encode();
    let back = Manifest::decode(&encoded).expect("an encoded manifest decodes");
    assert_eq!(back, manifest);
    let _ = manifest.digest();
    if checked.is_ok() {
        for entry in &manifest.chunks {
            let key = manifest.chunk_key(entry);
            key.validate()
                .expect("a checked manifest names valid chunks");
            assert_eq!(ChunkKey::decode(&key.encode()).as_ref(), Some(&key));
        }
        assert_eq!(
            ManifestKey::decode(&manifest.key().encode()).as_ref(),
            Some(&manifest.key())
        );
    }
}

//! `--breakdown`: the parts of an ingest, timed on their own in the same rounds.
//!
//! - `scan`: `epochd_store::scan_event` over every MessagePack event, one thread: the
//!   validation a MessagePack body needs at least (the store scans each event twice
//!   and copies it once).
//! - `wal-io`: each MessagePack body written to one file with a WAL-like header and
//!   `fdatasync`ed, one body at a time: the write-ahead log's I/O, without parsing.
//! - `held`: the real ingest with sealing held off until the last batch, so the
//!   `ingest` calls (parse, WAL append and sync, nothing competing) and the commit of
//!   everything (`seal_all`: compression on all cores, sled commit and flush) are
//!   timed apart.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use epochd_bench::{EncodedStream, Stopwatch};
use epochd_store::scan_event;

use crate::run::temp_dir;

/// Scans every event of a MessagePack stream; returns seconds.
pub fn scan_floor(stream: &EncodedStream) -> Result<f64> {
    let bytes = stream.bytes();
    let watch = Stopwatch::start();
    let mut pos = 0;
    let mut events = 0;
    while pos < bytes.len() {
        let (header, len) = scan_event(&bytes[pos..])
            .map_err(|e| anyhow::anyhow!("event {} does not scan: {e}", events + 1))?;
        std::hint::black_box(header);
        pos += len;
        events += 1;
    }
    let secs = watch.secs();
    anyhow::ensure!(events == stream.events(), "scanned {events} events");
    Ok(secs)
}

/// Appends every body to one file under `root` with a 20-byte header, syncing the
/// data after each, as the write-ahead log does; returns seconds.
pub fn wal_io_floor(root: &Path, bodies: &[&[u8]]) -> Result<f64> {
    let dir = temp_dir(root, "wal-io")?;
    let path = dir.path().join("log");
    let mut file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let watch = Stopwatch::start();
    for (lsn, body) in bodies.iter().enumerate() {
        let mut header = [0u8; 20];
        header[..4].copy_from_slice(&(body.len() as u32).to_be_bytes());
        header[4..12].copy_from_slice(&(lsn as u64 + 1).to_be_bytes());
        file.write_all(&header)
            .and_then(|()| file.write_all(body))
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(watch.secs())
}

//! The timed paths. Each one takes the commit's inputs, made before the clock starts;
//! [`on_this_thread`] and [`on_pool`] time it into a [`Sample`]. A path that decodes
//! less than every event is an error, never a fast number.

use std::hint::black_box;
use std::io::Cursor;

use anyhow::{ensure, Context, Result};
use serde::Deserialize;

use epochd_bench::cpu::{self, ThreadCpu};
use epochd_bench::Stopwatch;
use epochd_decode::{decode, decode_raw, EpochMeta, SharedEpoch};
use epochd_store::{decompress, value_len};

/// What one path took in one round.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Wall seconds.
    pub secs: f64,
    /// CPU seconds (user, system) of the threads that did the work, from `/proc`
    /// (resolution 1/100 s); zero where `/proc` is not there.
    pub user: f64,
    /// Of the CPU, kernel seconds.
    pub system: f64,
    /// Minor page faults of those threads.
    pub faults: u64,
}

/// The inputs every path decodes: the same commit, as compressed blobs (what the store
/// holds) and as raw chunks (what decompression gives back).
pub struct Inputs<'a> {
    /// Which commit.
    pub meta: EpochMeta,
    /// zstd blobs, manifest order.
    pub blobs: &'a [Vec<u8>],
    /// The same chunks raw (what decompression gives back).
    pub raws: &'a [&'a [u8]],
    /// Events in all.
    pub events: usize,
    /// A decoded epoch's FlatBuffer bytes, for timing the sealed memfd alone.
    pub flatbuffer: &'a [u8],
}

/// Bytes of a page, for touching fresh memory one page at a time.
const PAGE: usize = 4096;

/// Runs `work` on the calling thread; returns its wall time, CPU and faults with
/// what it made (dropped by the caller, after the clock stopped).
pub fn on_this_thread<T>(work: impl FnOnce() -> Result<T>) -> Result<(Sample, T)> {
    let before = cpu::this_thread();
    let watch = Stopwatch::start();
    let made = work()?;
    let mut sample = Sample {
        secs: watch.secs(),
        ..Sample::default()
    };
    if let (Some(before), Some(after)) = (before, cpu::this_thread()) {
        fill_cpu(&mut sample, &[before], &[after]);
    }
    Ok((sample, made))
}

/// Runs `work` (which spreads over a rayon pool); returns its wall time, and the CPU
/// and faults of the process's threads whose name starts with `prefix`, with what it
/// made.
pub fn on_pool<T>(prefix: &str, work: impl FnOnce() -> Result<T>) -> Result<(Sample, T)> {
    let before = cpu::snapshot();
    let watch = Stopwatch::start();
    let made = work()?;
    let mut sample = Sample {
        secs: watch.secs(),
        ..Sample::default()
    };
    let used: Vec<ThreadCpu> = cpu::snapshot()
        .since(&before)
        .into_iter()
        .filter(|t| t.name.starts_with(prefix))
        .collect();
    fill_cpu(&mut sample, &[], &used);
    Ok((sample, made))
}

fn fill_cpu(sample: &mut Sample, before: &[ThreadCpu], after: &[ThreadCpu]) {
    let sum = |ts: &[ThreadCpu], f: fn(&ThreadCpu) -> f64| ts.iter().map(f).sum::<f64>();
    sample.user = sum(after, |t| t.user) - sum(before, |t| t.user);
    sample.system = sum(after, |t| t.system) - sum(before, |t| t.system);
    sample.faults = after.iter().map(|t| t.minor_faults).sum::<u64>()
        - before.iter().map(|t| t.minor_faults).sum::<u64>();
}

fn unpack(blob: &[u8]) -> Result<Vec<u8>> {
    decompress(blob).map_err(|e| anyhow::anyhow!("decompressing a chunk: {e}"))
}

/// (a) The floor: every blob decompressed with the store's own `decompress`, each
/// raw chunk dropped once done.
pub fn decompress_only(inputs: &Inputs<'_>) -> Result<()> {
    let mut bytes = 0;
    for blob in inputs.blobs {
        bytes += black_box(unpack(blob)?).len();
    }
    let expected: usize = inputs.raws.iter().map(|r| r.len()).sum();
    ensure!(
        bytes == expected,
        "decompressed {bytes} bytes of {expected}"
    );
    Ok(())
}

/// (b) Decompression, then every event read into an `rmpv::Value` tree (and dropped).
pub fn rmpv_tree(inputs: &Inputs<'_>) -> Result<()> {
    let mut events = 0;
    for blob in inputs.blobs {
        let raw = unpack(blob)?;
        let mut rest = raw.as_slice();
        while !rest.is_empty() {
            let value = rmpv::decode::read_value(&mut rest)
                .with_context(|| format!("rmpv: event {}", events + 1))?;
            black_box(&value);
            events += 1;
        }
    }
    ensure!(events == inputs.events, "rmpv read {events} events");
    Ok(())
}

/// (b') Decompression, then every event deserialized by rmp-serde into a
/// `serde_json::Value` tree (and dropped).
pub fn json_value_tree(inputs: &Inputs<'_>) -> Result<()> {
    let mut events = 0;
    for blob in inputs.blobs {
        let raw = unpack(blob)?;
        let len = raw.len() as u64;
        let mut de = rmp_serde::Deserializer::new(Cursor::new(raw.as_slice()));
        while de.position() < len {
            let value = serde_json::Value::deserialize(&mut de)
                .with_context(|| format!("rmp-serde: event {}", events + 1))?;
            black_box(&value);
            events += 1;
        }
    }
    ensure!(events == inputs.events, "rmp-serde read {events} events");
    Ok(())
}

/// Checks, outside the clock, that a decoded epoch holds every event.
pub fn check(epoch: &SharedEpoch, inputs: &Inputs<'_>) -> Result<()> {
    let rows = epoch.view().rows() as usize;
    ensure!(
        rows == inputs.events,
        "the decoded epoch has {rows} rows for {} events",
        inputs.events
    );
    Ok(())
}

/// (c) Our decode: `epochd_decode::decode` of the blobs (decompression, columns,
/// FlatBuffer, sealed memfd), on whatever rayon pool it is installed in. The epoch is
/// dropped after the clock stops: only its making is timed.
pub fn ours(inputs: &Inputs<'_>) -> Result<SharedEpoch> {
    decode(inputs.meta.clone(), inputs.blobs).context("epochd_decode::decode")
}

/// Breakdown: every blob decompressed and the raw chunks kept until the end, as
/// `decode` keeps them (the floor above drops each one at once).
pub fn decompress_kept(inputs: &Inputs<'_>) -> Result<()> {
    let raws = inputs
        .blobs
        .iter()
        .map(|blob| unpack(blob))
        .collect::<Result<Vec<_>>>()?;
    black_box(&raws);
    Ok(())
}

/// Breakdown: `epochd_store::value_len` over every event of the raw chunks: walking
/// every MessagePack value without keeping anything (the least any decoder does).
pub fn walk(inputs: &Inputs<'_>) -> Result<()> {
    let mut events = 0;
    for raw in inputs.raws {
        let mut pos = 0;
        while pos < raw.len() {
            pos += value_len(&raw[pos..])
                .map_err(|e| anyhow::anyhow!("event {} does not walk: {e}", events + 1))?;
            events += 1;
        }
    }
    ensure!(events == inputs.events, "walked {events} events");
    Ok(())
}

/// Breakdown: fresh memory as large as the raw chunks plus the decoded epoch (what
/// `decode` allocates at least, besides the memfd) allocated and written one byte per
/// page: the kernel's cost of handing out zeroed pages (page faults), without decoding.
pub fn touch_fresh(inputs: &Inputs<'_>) -> Result<()> {
    let bytes = inputs.raws.iter().map(|r| r.len()).sum::<usize>() + inputs.flatbuffer.len();
    let mut fresh: Vec<u8> = Vec::with_capacity(bytes);
    for byte in fresh.spare_capacity_mut().iter_mut().step_by(PAGE) {
        byte.write(1);
    }
    black_box(&mut fresh);
    Ok(())
}

/// Breakdown: `epochd_decode::decode_raw` of the raw chunks (columns, merge,
/// FlatBuffer, sealed memfd: `decode` without decompression).
pub fn ours_raw(inputs: &Inputs<'_>) -> Result<SharedEpoch> {
    decode_raw(inputs.meta.clone(), inputs.raws).context("epochd_decode::decode_raw")
}

/// Breakdown: `SharedEpoch::new` of a decoded epoch's FlatBuffer bytes (a memfd,
/// the copy into it, the seals, the read-only mapping, the FlatBuffer verifier).
pub fn seal_only(inputs: &Inputs<'_>) -> Result<SharedEpoch> {
    SharedEpoch::new(inputs.meta.clone(), inputs.flatbuffer).context("SharedEpoch::new")
}

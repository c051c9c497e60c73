//! The timed paths, each on the calling thread (the one thread of a one-thread rayon
//! pool, so the decode's parallel iterators stay on it):
//! - [`decode_alone`]: one decode of the commit, and dropping it;
//! - [`epochd`]: one decode, then N job runs on that shared epoch, then dropping it;
//! - [`mapreduce`]: N times: a decode of its own, one job run on it, dropping it.
//!
//! Every path's CPU is the calling thread's own CPU clock (nanoseconds), read around
//! the whole section and around each run and decode inside it; wall time by a
//! stopwatch. The CPU of the process's other threads in the same span (wasmtime's
//! epoch ticker) is read from `/proc`, outside the thread's clock, to show nothing was
//! done elsewhere. Results are checked after the clock stops ([`crate::jobs`]).

use std::time::Duration;

use anyhow::{Context, Result};
use epochd_bench::cpu::{self, thread_time};
use epochd_bench::Stopwatch;
use epochd_decode::{decode, EpochMeta, SharedEpoch};
use epochd_jobs::RunLimits;

use crate::jobs::{kind, Job, Output};

/// The inputs every path works on, made before the clock starts.
pub struct Inputs<'a> {
    /// Which commit.
    pub meta: EpochMeta,
    /// Its zstd blobs, in manifest order (what the store holds).
    pub blobs: &'a [Vec<u8>],
    /// Events in all.
    pub events: usize,
    /// The distinct jobs, compiled once ([`crate::jobs::NAMES`] order).
    pub jobs: &'a [Job],
    /// Every run's limits (the daemon's manifest defaults).
    pub limits: RunLimits,
}

/// One job run inside a path.
#[derive(Debug, Clone, Copy)]
pub struct RunSample {
    /// Which job ([`crate::jobs::NAMES`] index).
    pub job: usize,
    /// CPU seconds of the calling thread around `JobModule::run`.
    pub cpu: f64,
    /// `RunReport::wall`: instantiation, `epochd_run`, in seconds.
    pub wall: f64,
    /// `RunReport::instantiate`, in seconds.
    pub instantiate: f64,
}

/// What one path took in one round.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// CPU seconds of the working thread over the whole section.
    pub cpu: f64,
    /// Wall seconds of the section.
    pub wall: f64,
    /// Of `cpu`, the decodes (each from its start to its `SharedEpoch`).
    pub decode_cpu: f64,
    /// Of `cpu`, the job runs (around each `JobModule::run`).
    pub runs_cpu: f64,
    /// Kernel seconds of the working thread (`/proc`, 1/100 s resolution).
    pub system: f64,
    /// Minor page faults of the working thread.
    pub faults: u64,
    /// CPU seconds of the process's other threads over the same span (`/proc`).
    pub others: f64,
    /// Every run, in order.
    pub runs: Vec<RunSample>,
}

impl Sample {
    /// Mean CPU seconds of one run (0 without runs).
    pub fn mean_run_cpu(&self) -> f64 {
        if self.runs.is_empty() {
            0.0
        } else {
            self.runs_cpu / self.runs.len() as f64
        }
    }
}

/// Times `work` on the calling thread into a [`Sample`] (with whatever `work` put in
/// it), and returns what it made.
fn section<T>(work: impl FnOnce(&mut Sample) -> Result<T>) -> Result<(Sample, T)> {
    let me = cpu::this_thread();
    let before = cpu::snapshot();
    let mut sample = Sample::default();
    let watch = Stopwatch::start();
    let start = thread_time();
    let made = work(&mut sample)?;
    sample.cpu = secs(thread_time() - start);
    sample.wall = watch.secs();
    let used = cpu::snapshot().since(&before);
    if let Some(me) = me {
        for thread in used {
            if thread.tid == me.tid {
                sample.system = thread.system;
                sample.faults = thread.minor_faults;
            } else {
                sample.others += thread.cpu();
            }
        }
    }
    Ok((sample, made))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Decodes the commit, adding the decode's CPU to the sample.
fn decode_once(inputs: &Inputs<'_>, sample: &mut Sample) -> Result<SharedEpoch> {
    let start = thread_time();
    let epoch = decode(inputs.meta.clone(), inputs.blobs).context("epochd_decode::decode")?;
    sample.decode_cpu += secs(thread_time() - start);
    Ok(epoch)
}

/// Runs the `i`-th job of the mix on `epoch` (a fresh instance, as the daemon runs
/// every job of every commit), adding it to the sample; returns its outcome.
fn run_one(inputs: &Inputs<'_>, i: usize, epoch: &SharedEpoch, sample: &mut Sample) -> Output {
    let job = kind(i);
    let start = thread_time();
    let report = inputs.jobs[job].module.run(&inputs.limits, epoch, b"");
    let cpu = secs(thread_time() - start);
    sample.runs_cpu += cpu;
    sample.runs.push(RunSample {
        job,
        cpu,
        wall: secs(report.wall),
        instantiate: secs(report.instantiate),
    });
    (job, report.outcome)
}

/// (a) One decode (decompression, columns, FlatBuffer, sealed memfd) and dropping the
/// epoch: what one commit costs before any job runs. The epoch is checked (rows =
/// events) after the clock.
pub fn decode_alone(inputs: &Inputs<'_>) -> Result<Sample> {
    let (sample, rows) = section(|sample| {
        let epoch = decode_once(inputs, sample)?;
        let rows = epoch.view().rows();
        drop(epoch);
        Ok(rows)
    })?;
    anyhow::ensure!(
        rows as usize == inputs.events,
        "the decoded epoch has {rows} rows for {} events",
        inputs.events
    );
    Ok(sample)
}

/// (b) The epochd way: one decode, `n` job runs on the shared epoch, dropping it.
pub fn epochd(inputs: &Inputs<'_>, n: usize) -> Result<(Sample, Vec<Output>)> {
    section(|sample| {
        let epoch = decode_once(inputs, sample)?;
        let mut outputs = Vec::with_capacity(n);
        for i in 0..n {
            outputs.push(run_one(inputs, i, &epoch, sample));
        }
        drop(epoch);
        Ok(outputs)
    })
}

/// (c) The MapReduce way: each of `n` jobs decodes the epoch itself, runs on it, and
/// drops it.
pub fn mapreduce(inputs: &Inputs<'_>, n: usize) -> Result<(Sample, Vec<Output>)> {
    section(|sample| {
        let mut outputs = Vec::with_capacity(n);
        for i in 0..n {
            let epoch = decode_once(inputs, sample)?;
            outputs.push(run_one(inputs, i, &epoch, sample));
            drop(epoch);
        }
        Ok(outputs)
    })
}

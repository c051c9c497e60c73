//! The host copy, what the daemon does: a job of ABI v1 run by the real job runtime
//! (`epochd_jobs`: its engine, its host functions, `JobModule::run`, a fresh store
//! and instance per run). The job sums an `INT` column by copying it with
//! `column_i64` into a 64 KiB buffer (8192 values, 4 KiB-aligned) and summing the
//! buffer, slice after slice, then emits the sum (8 bytes, little-endian).

use anyhow::{anyhow, ensure, Context, Result};
use epochd_decode::SharedEpoch;
use epochd_jobs::{JobModule, RunLimits, Runtime, RuntimeConfig};

use crate::measure::{self, secs, Instance};
use crate::{SUM_RANGE_WAT, WASM_PAGE};

/// Values per `column_i64` call: 64 KiB.
const SLICE_VALUES: usize = 8192;

/// The job, in WebAssembly text: page 0 holds the path (at 16) and the result (at
/// 0); page 1 is the buffer the host copies each slice into.
fn job_wat(path: &str) -> String {
    let escaped: String = path.bytes().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"(module
  (import "epochd" "column" (func $column (param i32 i32 i32) (result i32)))
  (import "epochd" "column_i64" (func $column_i64 (param i32 i32 i32 i32) (result i32)))
  (import "epochd" "emit" (func $emit (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "{escaped}")
  {SUM_RANGE_WAT}
  (func (export "epochd_abi_version") (result i32) (i32.const 1))
  (func (export "epochd_run") (result i32)
    (local $h i32) (local $start i32) (local $got i32) (local $sum i64)
    (local.set $h (call $column (i32.const 16) (i32.const {len}) (i32.const 0)))
    (if (i32.lt_s (local.get $h) (i32.const 0)) (then (return (i32.const 1))))
    (block $done
      (loop $next
        (local.set $got (call $column_i64 (local.get $h) (local.get $start)
                                          (i32.const {SLICE_VALUES}) (i32.const {WASM_PAGE})))
        (if (i32.lt_s (local.get $got) (i32.const 0)) (then (return (i32.const 2))))
        (br_if $done (i32.eqz (local.get $got)))
        (local.set $sum (i64.add (local.get $sum)
                                 (call $sum_range (i32.const {WASM_PAGE}) (local.get $got))))
        (local.set $start (i32.add (local.get $start) (local.get $got)))
        (br $next)))
    (i64.store (i32.const 0) (local.get $sum))
    (drop (call $emit (i32.const 0) (i32.const 8)))
    (i32.const 0)))"#,
        len = path.len(),
    )
}

/// The job compiled on a runtime of its own (the module keeps the runtime alive).
pub struct HostCopy {
    module: JobModule,
    limits: RunLimits,
}

impl HostCopy {
    /// A runtime with the daemon's default configuration (`pooling`: the pooling
    /// allocator, the default; else on-demand allocation) and the job compiled on
    /// it, checked against ABI v1 as the daemon checks a submission.
    pub fn new(pooling: bool, path: &str, limits: RunLimits) -> Result<HostCopy> {
        ensure!(
            path.len() < WASM_PAGE - 16,
            "a column path of {} bytes",
            path.len()
        );
        let runtime = Runtime::new(RuntimeConfig {
            pooling,
            ..RuntimeConfig::default()
        })
        .context("starting the job runtime")?;
        ensure!(
            runtime.pooling() == pooling,
            "asked for pooling = {pooling}, the runtime has {}",
            runtime.pooling()
        );
        let module = runtime
            .compile(job_wat(path).as_bytes())
            .context("compiling the host-copy job")?;
        Ok(HostCopy { module, limits })
    }

    /// One run: `JobModule::run` (fresh store and instance, the scan, dropping the
    /// store). Setup = its instantiation; scan = the rest of its wall time.
    pub fn run(&self, epoch: &SharedEpoch) -> Result<(Instance, i64)> {
        measure::instance(|sample| {
            let report = self.module.run(&self.limits, epoch, b"");
            sample.setup = secs(report.instantiate);
            sample.scan = secs(report.wall.saturating_sub(report.instantiate));
            let result = report
                .outcome
                .map_err(|e| anyhow!("the host-copy job failed: {e}"))?;
            let bytes: [u8; 8] = result
                .as_slice()
                .try_into()
                .map_err(|_| anyhow!("the job emitted {} bytes, not 8", result.len()))?;
            Ok(i64::from_le_bytes(bytes))
        })
    }
}

//! The zero-copy mapping: the sealed memfd of the epoch mapped into each
//! instance's linear memory ([`crate::memory`]), on an engine of its own configured
//! like the job runtime's (cranelift at speed, epoch interruption, the same wasm
//! features) but with the on-demand allocator, `memory_init_cow(false)` and the
//! epoch's memory creator. The host resolves the column in the FlatBuffer and calls
//! the guest's `sum(ptr, count)` with where its values lie in the guest's memory.

use std::sync::Arc;

use anyhow::{anyhow, ensure, Context, Result};
use epochd_bench::Stopwatch;
use epochd_decode::SharedEpoch;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module, OptLevel,
    Store, StoreLimits, StoreLimitsBuilder, Strategy,
};

use crate::column::{locate, native_sum, IntColumn};
use crate::measure::{self, Instance};
use crate::memory::{grow_mapping, EpochMemoryCreator};
use crate::SUM_RANGE_WAT;

/// The guest: one page of its own; the host grows the memory with the epoch.
/// `poke` writes to its memory, to check that writes stay private.
fn guest_wat() -> String {
    format!(
        r#"(module
  (memory (export "memory") 1)
  {SUM_RANGE_WAT}
  (func (export "sum") (param i32 i32) (result i64)
    (call $sum_range (local.get 0) (local.get 1)))
  (func (export "poke") (param i32)
    (i64.store (local.get 0) (i64.const -1))))"#
    )
}

/// Epoch ticks before an interrupt: nothing advances the engine's epoch here, so
/// the check compiled into the guest (as in the job runtime) never fires.
const DEADLINE_TICKS: u64 = 1 << 40;

/// A store's data: its memory cap.
struct State {
    limits: StoreLimits,
}

/// The engine and the guest, compiled once.
pub struct Mapping {
    engine: Engine,
    pre: InstancePre<State>,
    memory_cap: usize,
}

impl Mapping {
    /// The engine and the guest; every instance's memory is capped at
    /// `memory_cap` bytes, the epoch included.
    pub fn new(memory_cap: usize) -> Result<Mapping> {
        let mut c = Config::new();
        // As daemon/jobs/src/engine.rs configures the job runtime...
        c.strategy(Strategy::Cranelift)
            .cranelift_opt_level(OptLevel::Speed)
            .parallel_compilation(true)
            .epoch_interruption(true)
            .max_wasm_stack(512 << 10)
            .wasm_multi_memory(false)
            .wasm_memory64(false)
            .relaxed_simd_deterministic(true)
            // ...but with memories of our own: wasmtime asks a host memory
            // creator only with the on-demand allocator, and a copy-on-write
            // memory image needs its own mmap memories.
            .allocation_strategy(InstanceAllocationStrategy::OnDemand)
            .memory_init_cow(false)
            .with_host_memory(Arc::new(EpochMemoryCreator));
        let engine = Engine::new(&c).wasm_ctx("building the mapping engine")?;
        let wasm = wat::parse_str(guest_wat()).context("assembling the mapping guest")?;
        let module = Module::new(&engine, wasm).wasm_ctx("compiling the mapping guest")?;
        let pre = Linker::new(&engine)
            .instantiate_pre(&module)
            .wasm_ctx("pre-instantiating the mapping guest")?;
        Ok(Mapping {
            engine,
            pre,
            memory_cap,
        })
    }

    /// A fresh store (with the memory cap) and instance, and its memory.
    fn new_instance(&self) -> Result<(Store<State>, wasmtime::Instance, Memory)> {
        let mut store = Store::new(
            &self.engine,
            State {
                limits: StoreLimitsBuilder::new()
                    .memory_size(self.memory_cap)
                    .build(),
            },
        );
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(DEADLINE_TICKS);
        let instance = self
            .pre
            .instantiate(&mut store)
            .wasm_ctx("instantiating the mapping guest")?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .wasm_ctx("the guest exports no memory")?;
        Ok((store, instance, memory))
    }

    /// One instance: setup (store, instance, growing the memory with the epoch
    /// mapped), the scan, dropping the store.
    pub fn run(&self, epoch: &SharedEpoch, column: &IntColumn) -> Result<(Instance, i64)> {
        measure::instance(|sample| {
            let watch = Stopwatch::start();
            let (mut store, instance, memory) = self.new_instance()?;
            let instantiated = watch.secs();
            let at = grow_mapping(&mut store, memory, epoch)?;
            sample.setup = watch.secs();
            sample.map = sample.setup - instantiated;
            let scan = Stopwatch::start();
            let sum = instance
                .get_typed_func::<(i32, i32), i64>(&mut store, "sum")
                .wasm_ctx("the guest's sum")?;
            // The host finds the column by path, as the host copy's `column` does
            // in its scan.
            let (offset, count, _) = locate(epoch, &column.path)?;
            let (ptr, count) = guest_args(at, offset, count)?;
            let total = sum
                .call(&mut store, (ptr, count))
                .wasm_ctx("the mapping guest's scan")?;
            sample.scan = scan.secs();
            let teardown = Stopwatch::start();
            drop(store);
            sample.teardown = teardown.secs();
            Ok(total)
        })
    }

    /// Checks, once, that a guest's writes to the mapped epoch stay in its own
    /// instance: one instance overwrites the column's first value; the epoch's
    /// bytes are unchanged, and a fresh instance sums the original values.
    pub fn check_private_writes(&self, epoch: &SharedEpoch, column: &IntColumn) -> Result<()> {
        let (mut store, instance, memory) = self.new_instance()?;
        let at = grow_mapping(&mut store, memory, epoch)?;
        let (ptr, count) = guest_args(at, column.offset, column.count)?;
        instance
            .get_typed_func::<i32, ()>(&mut store, "poke")
            .wasm_ctx("the guest's poke")?
            .call(&mut store, ptr)
            .wasm_ctx("poking")?;
        let poked = instance
            .get_typed_func::<(i32, i32), i64>(&mut store, "sum")
            .wasm_ctx("the guest's sum")?
            .call(&mut store, (ptr, count))
            .wasm_ctx("summing")?;
        let first = i64::from_le_bytes(column.values(epoch)[..8].try_into()?);
        ensure!(
            poked == column.sum.wrapping_sub(first).wrapping_add(-1),
            "the poking instance does not see its own write"
        );
        drop(store);
        ensure!(
            native_sum(column.values(epoch)) == column.sum,
            "a guest's write reached the shared epoch"
        );
        let (mut store, instance, memory) = self.new_instance()?;
        let at = grow_mapping(&mut store, memory, epoch)?;
        let (ptr, count) = guest_args(at, column.offset, column.count)?;
        let fresh = instance
            .get_typed_func::<(i32, i32), i64>(&mut store, "sum")
            .wasm_ctx("the guest's sum")?
            .call(&mut store, (ptr, count))
            .wasm_ctx("summing")?;
        ensure!(
            fresh == column.sum,
            "a guest's write reached another instance"
        );
        Ok(())
    }
}

/// `context` for wasmtime's own error type (wasmtime is built without its
/// `anyhow` feature).
trait WasmtimeContext<T> {
    fn wasm_ctx(self, what: &str) -> Result<T>;
}

impl<T> WasmtimeContext<T> for wasmtime::Result<T> {
    fn wasm_ctx(self, what: &str) -> Result<T> {
        self.map_err(|e| anyhow!("{what}: {e:#}"))
    }
}

impl<T> WasmtimeContext<T> for Option<T> {
    fn wasm_ctx(self, what: &str) -> Result<T> {
        self.ok_or_else(|| anyhow!("{what}"))
    }
}

/// The guest's `(ptr, count)` of `count` values at `offset` of the epoch, the
/// epoch mapped at `at`.
fn guest_args(at: usize, offset: usize, count: usize) -> Result<(i32, i32)> {
    let ptr = u32::try_from(at + offset).context("the column lies past 4 GiB")?;
    let count = i32::try_from(count).context("too many values")?;
    // The guest reads pointers as unsigned: the bits are what matters.
    Ok((ptr as i32, count))
}

//! The zero-copy option's linear memory: a wasmtime [`MemoryCreator`] whose
//! memories reserve their whole address space up front (the reservation wasmtime
//! asks for, plus a guard before and after, all `PROT_NONE`) and, when the host
//! grows one with an epoch pending on the growing thread ([`grow_mapping`]),
//! map the epoch's sealed memfd into the new pages instead of fresh zero pages.
//!
//! The memfd is mapped `MAP_PRIVATE` and writable (wasm memory has no read-only
//! pages): reads share the memfd's pages with the daemon and every other
//! instance; a guest's write copies that one page into the instance's own memory
//! and never reaches the epoch (the memfd is sealed against writes anyway).
//!
//! Only the on-demand instance allocator asks a [`MemoryCreator`] for instance
//! memories (wasmtime 48's pooling allocator never does), and the engine needs
//! `memory_init_cow(false)`: a copy-on-write memory image expects wasmtime's own
//! mmap-based memories (see `wasmtime::runtime::vm::memory::LocalMemory::new`).

use std::cell::RefCell;
use std::ptr;

use anyhow::{anyhow, ensure, Context, Result};
use epochd_decode::SharedEpoch;
use rustix::mm::{self, MapFlags, MprotectFlags, ProtFlags};
use wasmtime::{AsContextMut, LinearMemory, Memory, MemoryCreator, MemoryType};

/// A WebAssembly page.
pub const WASM_PAGE: usize = 64 << 10;

/// All of wasm32: the reservation when wasmtime gives none.
const WASM32_MAX: usize = 1 << 32;

thread_local! {
    /// The epoch the next growth of an [`EpochMemory`] on this thread maps.
    static PENDING: RefCell<Option<SharedEpoch>> = const { RefCell::new(None) };
}

/// Grows `memory` by as many wasm pages as `epoch` needs, with the epoch's
/// memfd mapped at the start of the new pages; returns the byte offset in the
/// linear memory where the epoch starts. Fails when the growth is refused (the
/// store's memory cap) or when `memory` is not an [`EpochMemory`].
pub fn grow_mapping(
    mut store: impl AsContextMut,
    memory: Memory,
    epoch: &SharedEpoch,
) -> Result<usize> {
    let pages = epoch.len().div_ceil(WASM_PAGE);
    PENDING.with_borrow_mut(|p| *p = Some(epoch.clone()));
    let grown = memory.grow(&mut store, pages as u64);
    let unused = PENDING.with_borrow_mut(Option::take);
    let old_pages = grown.map_err(|e| {
        anyhow!(
            "growing the memory by {pages} pages ({} bytes) for the epoch: {e:#}",
            pages * WASM_PAGE
        )
    })?;
    ensure!(
        unused.is_none(),
        "the memory grew without mapping the epoch: it was not made by EpochMemoryCreator"
    );
    Ok(old_pages as usize * WASM_PAGE)
}

/// Makes [`EpochMemory`]s. Install with `Config::with_host_memory`.
pub struct EpochMemoryCreator;

// SAFETY: every memory it returns is an `EpochMemory`, which upholds
// `LinearMemory`'s contract (below): owned by the wasmtime memory it is given
// to, never touched from outside wasmtime, freed only when wasmtime drops it.
unsafe impl MemoryCreator for EpochMemoryCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        EpochMemory::new(
            minimum,
            maximum,
            reserved_size_in_bytes,
            guard_size_in_bytes,
        )
        .map(|m| Box::new(m) as Box<dyn LinearMemory>)
        .map_err(|e| format!("{e:#}"))
    }
}

/// One instance's linear memory.
pub struct EpochMemory {
    /// Start of the whole reservation (guard before included), as an address.
    region: usize,
    /// Length of the whole reservation.
    region_len: usize,
    /// Start of the linear memory (`region` + the guard before).
    base: usize,
    /// Bytes the memory can grow to without moving (what wasmtime reserved).
    capacity: usize,
    /// Bytes accessible now.
    size: usize,
    /// The host page size.
    page: usize,
    /// The mapped epoch, held as long as its pages are mapped (as a job would
    /// hold its share of the reference-counted epoch).
    mapped: Option<SharedEpoch>,
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

impl EpochMemory {
    fn new(
        minimum: usize,
        maximum: Option<usize>,
        reserved: Option<usize>,
        guard: usize,
    ) -> Result<EpochMemory> {
        let page = rustix::param::page_size();
        let capacity = round_up(reserved.unwrap_or(WASM32_MAX).max(minimum), page);
        let guard = round_up(guard, page);
        if let Some(max) = maximum {
            // Compiled code may skip bounds checks up to the reservation, so
            // memories that could outgrow it (and move) are not supported here.
            ensure!(
                max <= capacity,
                "a maximum of {max} bytes exceeds the reservation of {capacity}"
            );
        }
        let region_len = guard + capacity + guard;
        // SAFETY: a new anonymous mapping at an address the kernel chooses (null
        // hint, no MAP_FIXED), so it replaces nothing; PROT_NONE and not yet
        // handed to anyone, so nothing can read or write it.
        let region = unsafe {
            mm::mmap_anonymous(
                ptr::null_mut(),
                region_len,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .context("reserving the linear memory's address space")? as usize;
        let mut memory = EpochMemory {
            region,
            region_len,
            base: region + guard,
            capacity,
            size: 0,
            page,
            mapped: None,
        };
        // On an error from here `memory` is dropped, which unmaps the region.
        memory.make_accessible(0, round_up(minimum, page))?;
        memory.size = minimum;
        Ok(memory)
    }

    /// Makes `len` bytes at `offset` of the linear memory readable and writable
    /// (fresh zero pages, faulted in on first touch).
    fn make_accessible(&self, offset: usize, len: usize) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        debug_assert!(offset % self.page == 0 && offset + len <= self.capacity);
        // SAFETY: the range is page-aligned and inside this memory's own
        // reservation (`offset + len <= capacity`), at or past its current size:
        // neither wasm code nor any Rust reference can be using those pages
        // (they are PROT_NONE until this call).
        unsafe {
            mm::mprotect(
                (self.base + offset) as *mut _,
                len,
                MprotectFlags::READ | MprotectFlags::WRITE,
            )
        }
        .context("making linear memory accessible")
    }

    /// Maps `epoch`'s memfd at `offset`, `len` bytes (its size rounded up to
    /// the host page), private and writable.
    fn map_epoch(&self, offset: usize, len: usize, epoch: &SharedEpoch) -> Result<()> {
        let at = (self.base + offset) as *mut _;
        // SAFETY: the range is page-aligned and inside this memory's own
        // reservation, past its current size (PROT_NONE, unused by wasm code or
        // any Rust reference), so MAP_FIXED replaces only pages of ours. The
        // file is a sealed memfd of `epoch.len()` bytes, at most `len`: every
        // mapped page holds file data (the tail of the last one reads as
        // zeros), so no access past the end raises SIGBUS; it cannot shrink
        // (F_SEAL_SHRINK). MAP_PRIVATE: a guest's write copies the page and
        // never reaches the file.
        let mapped = unsafe {
            mm::mmap(
                at,
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::FIXED,
                epoch.file(),
                0,
            )
        };
        if let Err(e) = mapped {
            // A failed MAP_FIXED may have unmapped the range: put the
            // reservation back so nothing else can be mapped inside our region
            // (and be unmapped by our Drop).
            // SAFETY: the same range, ours, still unused; an anonymous
            // PROT_NONE mapping replaces whatever is left there.
            let _ = unsafe {
                mm::mmap_anonymous(
                    at,
                    len,
                    ProtFlags::empty(),
                    MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE,
                )
            };
            return Err(e).context("mapping the epoch's memfd into the linear memory");
        }
        Ok(())
    }
}

// SAFETY: `as_ptr` is page-aligned and never moves: the whole reservation
// (`capacity`, which covers every size `grow_to` accepts, plus a guard of the
// size wasmtime asked for after it, and one before) is made once in `new` and
// freed only in `drop`. Bytes past `size` stay PROT_NONE, so out-of-bounds
// accesses that compiled code does not check fault as wasmtime expects. New
// memory reads as zeros (anonymous pages), except the pages `grow_to` maps the
// pending epoch into, which is what this memory is for.
unsafe impl LinearMemory for EpochMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.capacity
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        self.grow(new_size)
            .map_err(|e| wasmtime::format_err!("{e:#}"))
    }

    fn as_ptr(&self) -> *mut u8 {
        self.base as *mut u8
    }
}

impl EpochMemory {
    /// Makes the memory `new_size` bytes long: the new pages are the pending
    /// epoch's, if one is pending on this thread, then fresh zero pages.
    fn grow(&mut self, new_size: usize) -> Result<()> {
        ensure!(
            new_size <= self.capacity,
            "cannot grow to {new_size} bytes: the reservation holds {}",
            self.capacity
        );
        if new_size <= self.size {
            return Ok(());
        }
        let start = round_up(self.size, self.page);
        let end = round_up(new_size, self.page);
        match PENDING.with_borrow_mut(Option::take) {
            Some(epoch) => {
                ensure!(self.mapped.is_none(), "an epoch is already mapped");
                let len = round_up(epoch.len(), self.page);
                ensure!(
                    start + len <= end,
                    "growing by {} bytes cannot hold the epoch's {}",
                    end - start,
                    epoch.len()
                );
                self.map_epoch(start, len, &epoch)?;
                self.make_accessible(start + len, end - start - len)?;
                self.mapped = Some(epoch);
            }
            None => self.make_accessible(start, end - start)?,
        }
        self.size = new_size;
        Ok(())
    }
}

impl Drop for EpochMemory {
    fn drop(&mut self) {
        // SAFETY: the region is this memory's own mapping, made in `new`; wasmtime
        // drops a LinearMemory only once its instance and store are gone, so no
        // wasm code runs on it and no host reference into it remains.
        let _ = unsafe { mm::munmap(self.region as *mut _, self.region_len) };
    }
}

//! The memory budget of decoded epochs: a commit waits for room before it
//! is decoded, and gives the room back when its epoch is freed. Waiting
//! stops taking hook deliveries, so the backlog stays on disk in the store's
//! outbox: back-pressure, never a drop.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Room is counted in KiB so large budgets fit a semaphore's permits.
const UNIT: usize = 1024;

/// Bytes of decoded epochs allowed at once.
#[derive(Clone)]
pub struct Budget {
    room: Arc<Semaphore>,
    units: u32,
}

/// Room held for one epoch; given back on drop.
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl Budget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Budget {
        let units = u32::try_from((bytes / UNIT).max(1)).unwrap_or(u32::MAX);
        Budget {
            room: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// Waits for room for `bytes` (an epoch larger than the whole budget
    /// waits for all of it, so it still runs, alone).
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let wanted = u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.units);
        let permit = self
            .room
            .clone()
            .acquire_many_owned(wanted)
            .await
            .expect("the budget's semaphore is never closed");
        Reservation { _permit: permit }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.room.available_permits() * UNIT
    }

    /// Bytes of the whole budget.
    pub fn total(&self) -> usize {
        self.units as usize * UNIT
    }
}

/// What runs of jobs may hold at once: the sum of their memory caps fits
/// `memory`, and at most `slots` run at a time (the job threads, each run
/// on one). A run waits for both before it starts, in the order runs ask:
/// the node never overcommits its memory to a burst of runs.
#[derive(Clone)]
pub struct RunRoom {
    memory: Budget,
    slots: Arc<Semaphore>,
    slot_count: usize,
}

/// Room held by one run; given back on drop.
pub struct RunPermit {
    _memory: Reservation,
    _slot: OwnedSemaphorePermit,
}

impl RunRoom {
    /// Room for runs whose memory caps sum to at most `memory_bytes`, at
    /// most `slots` of them at once.
    pub fn new(memory_bytes: usize, slots: usize) -> RunRoom {
        RunRoom {
            memory: Budget::new(memory_bytes),
            slots: Arc::new(Semaphore::new(slots.max(1))),
            slot_count: slots.max(1),
        }
    }

    /// Waits for a slot, then for `memory_cap` bytes of the memory budget.
    pub async fn reserve(&self, memory_cap: usize) -> RunPermit {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the run slots' semaphore is never closed");
        RunPermit {
            _memory: self.memory.reserve(memory_cap).await,
            _slot: slot,
        }
    }

    /// Bytes of the memory budget.
    pub fn memory_total(&self) -> usize {
        self.memory.total()
    }

    /// Bytes of the memory budget held by runs now.
    pub fn memory_held(&self) -> usize {
        self.memory.total() - self.memory.available()
    }

    /// Runs holding room now.
    pub fn running(&self) -> usize {
        self.slot_count - self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_run_waits_until_its_memory_cap_fits_the_budget() {
        let room = RunRoom::new(100 << 10, 8);
        let first = room.reserve(60 << 10).await;
        assert_eq!(room.memory_held(), 60 << 10);
        assert!(
            room.reserve(60 << 10).now_or_never().is_none(),
            "60 + 60 KiB do not fit 100 KiB: the second run waits"
        );
        let small = room.reserve(40 << 10).now_or_never();
        assert!(small.is_some(), "40 KiB still fits");
        drop(small);
        drop(first);
        assert!(room.reserve(60 << 10).now_or_never().is_some());
    }

    #[tokio::test]
    async fn a_run_waits_for_a_free_job_thread() {
        let room = RunRoom::new(1 << 30, 2);
        let a = room.reserve(1).await;
        let _b = room.reserve(1).await;
        assert_eq!(room.running(), 2);
        assert!(room.reserve(1).now_or_never().is_none());
        drop(a);
        assert!(room.reserve(1).now_or_never().is_some());
    }
}

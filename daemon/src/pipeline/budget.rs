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

//! Hostile job `memory-bomb`: allocates 1 MiB after 1 MiB, writing every
//! byte so the memory is really used, until an allocation fails at the
//! job's memory cap. It then panics, which reports "allocation refused
//! after N MiB" with `fail` and traps. The daemon must record the failure
//! and its own memory must stay bounded.

use epochd_job::{Epoch, JobError};

const MIB: usize = 1 << 20;

/// Grows until refused.
#[epochd_job::job]
pub fn run(_epoch: &Epoch) -> Result<(), JobError> {
    // Room for 64 Ki chunks (64 GiB): the hoard itself never reallocates.
    let mut hoard: Vec<Vec<u8>> = Vec::with_capacity(1 << 16);
    loop {
        let mut chunk: Vec<u8> = Vec::new();
        if chunk.try_reserve_exact(MIB).is_err() || hoard.len() == hoard.capacity() {
            panic!("memory-bomb: allocation refused after {} MiB", hoard.len());
        }
        chunk.resize(MIB, 0xa5);
        hoard.push(std::hint::black_box(chunk));
        if hoard.len() % 256 == 0 {
            epochd_job::info!("memory-bomb: {} MiB", hoard.len());
        }
    }
}

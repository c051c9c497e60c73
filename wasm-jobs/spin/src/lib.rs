//! Hostile job `spin`: never returns. The daemon must stop it at the run's
//! wall-clock deadline (and its CPU share must hold meanwhile), then record
//! the deadline as this job's error for the commit.

use epochd_job::{Epoch, JobError};

/// Counts forever; `black_box` keeps the loop from being optimised away.
#[epochd_job::job]
pub fn run(epoch: &Epoch) -> Result<(), JobError> {
    let mut n = epoch.epoch() as u64;
    loop {
        n = std::hint::black_box(n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

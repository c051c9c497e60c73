//! Whether the store can take writes now, and if not, why.
//!
//! Faults come in two kinds, and the difference decides what the store does:
//!
//! - A **passing fault** ([`Fault`]): the disk is full, no file descriptor is
//!   left, a write to one of the store's files failed. It ends when the
//!   resource comes back. While it lasts, ingest is refused with a message
//!   that names it (HTTP 507 for a full disk, 503 otherwise), the sealer
//!   keeps the epochs it could not commit and tries again with a growing
//!   pause, and the first commit that succeeds makes the store healthy again:
//!   no restart.
//! - A **stop** (`Failed`): the database's own log failed (sled refuses
//!   every write after one, until it is reopened), or a sync of the
//!   write-ahead log failed (what the last batches left on disk is unknown,
//!   so nothing more may be acknowledged behind them). The store refuses
//!   writes until it is restarted; the restart replays the write-ahead log.
//!
//! Besides, ingest is refused while the disk has less free space than
//! `disk_reserve_bytes`, so that commits (which free the write-ahead log)
//! and the database always have room to finish.

use std::path::Path;
use std::time::Instant;

use parking_lot::Mutex;

use crate::error::StoreError;

/// A passing fault: the store recovers from it by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No space left on the disk (ENOSPC, EDQUOT), or less than the reserve.
    DiskFull,
    /// No file descriptor left (EMFILE, ENFILE).
    NoDescriptors,
    /// An I/O error on a write (EIO).
    Io,
}

impl Fault {
    /// The passing fault an I/O error stands for, if any.
    pub fn of(error: &std::io::Error) -> Option<Fault> {
        use rustix::io::Errno;
        match Errno::from_io_error(error)? {
            Errno::NOSPC | Errno::DQUOT => Some(Fault::DiskFull),
            Errno::MFILE | Errno::NFILE => Some(Fault::NoDescriptors),
            Errno::IO => Some(Fault::Io),
            _ => None,
        }
    }

    /// A short machine-readable name (metrics, /healthz).
    pub fn name(self) -> &'static str {
        match self {
            Fault::DiskFull => "disk_full",
            Fault::NoDescriptors => "no_file_descriptors",
            Fault::Io => "io_error",
        }
    }
}

/// The store's state, as /healthz and /metrics show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum StoreHealth {
    /// Taking writes.
    Ok,
    /// Refusing writes until a passing fault ends; recovers by itself.
    Degraded {
        /// Which fault ([`Fault::name`]).
        fault: &'static str,
        /// What failed, as the error said it.
        detail: String,
        /// For how long, in seconds.
        for_secs: u64,
    },
    /// Refusing writes until restarted.
    Failed {
        /// The fault.
        reason: String,
    },
}

impl StoreHealth {
    /// True when the store takes writes.
    pub fn is_ok(&self) -> bool {
        matches!(self, StoreHealth::Ok)
    }
}

#[derive(Debug)]
enum State {
    Ok,
    Degraded {
        fault: Fault,
        detail: String,
        since: Instant,
    },
    Failed(String),
}

/// The state, shared by ingest (which reads it) and the sealer (which
/// degrades and restores it).
#[derive(Debug)]
pub(crate) struct Health(Mutex<State>);

impl Default for Health {
    fn default() -> Self {
        Health(Mutex::new(State::Ok))
    }
}

impl Health {
    /// Refuses a write while the store is degraded or stopped.
    pub fn check(&self) -> Result<(), StoreError> {
        match &*self.0.lock() {
            State::Ok => Ok(()),
            State::Degraded {
                fault: Fault::DiskFull,
                detail,
                ..
            } => Err(StoreError::DiskFull {
                detail: format!("commits are failing: {detail}"),
            }),
            State::Degraded { detail, .. } => Err(StoreError::Unavailable {
                detail: format!("commits are failing: {detail}"),
            }),
            State::Failed(reason) => Err(StoreError::Failed {
                reason: reason.clone(),
            }),
        }
    }

    /// True once the store has stopped for good (until a restart).
    pub fn is_failed(&self) -> bool {
        matches!(&*self.0.lock(), State::Failed(_))
    }

    /// Records a passing fault; returns true if the store was healthy until
    /// now (so the caller logs the change once, not at every retry).
    pub fn degrade(&self, fault: Fault, detail: String) -> bool {
        let mut state = self.0.lock();
        match &*state {
            State::Failed(_) => false,
            State::Degraded { since, .. } => {
                let since = *since;
                *state = State::Degraded {
                    fault,
                    detail,
                    since,
                };
                false
            }
            State::Ok => {
                *state = State::Degraded {
                    fault,
                    detail,
                    since: Instant::now(),
                };
                true
            }
        }
    }

    /// Stops the store until a restart.
    pub fn fail(&self, reason: String) {
        *self.0.lock() = State::Failed(reason);
    }

    /// Ends a passing fault; returns how long it lasted if there was one.
    pub fn recover(&self) -> Option<std::time::Duration> {
        let mut state = self.0.lock();
        match &*state {
            State::Degraded { since, .. } => {
                let lasted = since.elapsed();
                *state = State::Ok;
                Some(lasted)
            }
            _ => None,
        }
    }

    /// The state as /healthz shows it.
    pub fn snapshot(&self) -> StoreHealth {
        match &*self.0.lock() {
            State::Ok => StoreHealth::Ok,
            State::Degraded {
                fault,
                detail,
                since,
            } => StoreHealth::Degraded {
                fault: fault.name(),
                detail: detail.clone(),
                for_secs: since.elapsed().as_secs(),
            },
            State::Failed(reason) => StoreHealth::Failed {
                reason: reason.clone(),
            },
        }
    }
}

/// Bytes free for unprivileged writers on the file system holding `dir`.
pub(crate) fn free_bytes(dir: &Path) -> Result<u64, StoreError> {
    let stat = rustix::fs::statvfs(dir).map_err(|e| StoreError::io(dir, e.into()))?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Refuses a write of `incoming` bytes that would leave less than `reserve`
/// bytes free under `dir`. A reserve of 0 turns the check off.
pub(crate) fn check_room(dir: &Path, reserve: u64, incoming: u64) -> Result<(), StoreError> {
    if reserve == 0 {
        return Ok(());
    }
    let free = free_bytes(dir)?;
    if free < reserve.saturating_add(incoming) {
        return Err(StoreError::DiskFull {
            detail: format!(
                "{free} bytes free, and the store keeps {reserve} in reserve so its commits can finish; this request needs {incoming} more"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_told_apart() {
        let of = |code| Fault::of(&std::io::Error::from_raw_os_error(code));
        assert_eq!(of(28), Some(Fault::DiskFull));
        assert_eq!(of(24), Some(Fault::NoDescriptors));
        assert_eq!(of(23), Some(Fault::NoDescriptors));
        assert_eq!(of(5), Some(Fault::Io));
        assert_eq!(of(2), None, "ENOENT is not a passing fault");
    }

    #[test]
    fn a_degraded_store_refuses_then_recovers_and_a_failed_one_stays_failed() {
        let health = Health::default();
        assert!(health.check().is_ok());
        assert!(health.degrade(Fault::DiskFull, "no space".into()));
        assert!(!health.degrade(Fault::DiskFull, "still no space".into()));
        assert!(matches!(health.check(), Err(StoreError::DiskFull { .. })));
        assert!(health.recover().is_some());
        assert!(health.check().is_ok());
        health.fail("sled".into());
        assert!(!health.degrade(Fault::Io, "x".into()));
        assert!(health.recover().is_none());
        assert!(matches!(health.check(), Err(StoreError::Failed { .. })));
    }

    #[test]
    fn the_reserve_refuses_what_would_eat_into_it() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(
            check_room(dir.path(), 0, u64::MAX).is_ok(),
            "0 turns it off"
        );
        assert!(check_room(dir.path(), 1, 0).is_ok());
        let refused = check_room(dir.path(), free.saturating_add(1 << 30), 0).unwrap_err();
        assert!(refused.to_string().contains("in reserve"), "{refused}");
    }
}

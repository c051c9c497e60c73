//! Run jobs natively, in unit tests, over a mock epoch built from JSON
//! events. Not on wasm32.
//!
//! [`MockEpoch`] lays the events out as the daemon does (one column per
//! field path and type, dictionary-coded strings, a map container for a map
//! with more than 64 distinct keys under one path, a list container per
//! array, `RAW` MessagePack for values with no column form) and answers the
//! ABI v1 host functions over them, error codes included. A run goes through
//! the same glue as on wasm32 (`#[job]`'s `epochd_run`), so the result
//! bytes, the failure message and the logs are what the daemon would record.
//!
//! ```
//! use epochd_job::testing::MockEpoch;
//! use epochd_job::{Epoch, JobError};
//! use serde_json::json;
//!
//! fn run(epoch: &Epoch) -> Result<String, JobError> {
//!     let slow = epoch
//!         .int("tuning.wallclock")
//!         .map_or(0, |c| c.values().filter(|ms| *ms > 1000).count());
//!     Ok(slow.to_string())
//! }
//!
//! let epoch = MockEpoch::from_events(1_700_000_000, "ams4", [
//!     json!({"type": "WEB", "tuning": {"wallclock": 1500}}),
//!     json!({"type": "WEB", "tuning": {"wallclock": 20}}),
//!     json!({"type": "AV"}),
//! ]);
//! assert_eq!(epoch.run(run).unwrap(), b"1");
//! ```
//!
//! The mock follows the schema and ABI.md; it is no substitute for running
//! the built `.wasm` in the daemon (limits, deadlines, memory caps).

mod mock;
mod msgpack;
mod rng;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;

use mock::EpochData;
pub(crate) use mock::MockHost;
pub use mock::StrCoding;
pub use rng::Rng;

use crate::log::Level;
use crate::output::JobResult;
use crate::Epoch;

thread_local! {
    static HOST: RefCell<Option<MockHost>> = const { RefCell::new(None) };
}

/// Calls `f` with the installed mock host; panics when none is installed.
pub(crate) fn with_host<R>(call: &str, f: impl FnOnce(&mut MockHost) -> R) -> R {
    HOST.with(|cell| match cell.borrow_mut().as_mut() {
        Some(host) => f(host),
        None => panic!(
            "epochd-job: `{call}` was called outside a job run. Natively there is no epochd \
             host: run the job through `epochd_job::testing::MockEpoch::run` (or `merge`)"
        ),
    })
}

/// Whether a mock host is installed on this thread.
pub(crate) fn has_host() -> bool {
    HOST.with(|cell| cell.borrow().is_some())
}

/// Installs a host for one run and takes it back, even if the job panics.
struct Installed;

impl Installed {
    fn new(host: MockHost) -> Installed {
        HOST.with(|cell| {
            let mut slot = cell.borrow_mut();
            assert!(
                slot.is_none(),
                "epochd-job: a mock run is already going on on this thread"
            );
            *slot = Some(host);
        });
        Installed
    }

    fn take(self) -> MockHost {
        let host = HOST.with(|cell| cell.borrow_mut().take());
        std::mem::forget(self);
        host.expect("installed above")
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        HOST.with(|cell| cell.borrow_mut().take());
    }
}

/// The default maximum result size of a mock run: 1 MiB.
pub const DEFAULT_MAX_RESULT_SIZE: usize = 1 << 20;

/// A decoded epoch for native runs of a job.
#[derive(Clone, Debug)]
pub struct MockEpoch {
    data: Rc<EpochData>,
    config: Rc<[u8]>,
    max_result_size: usize,
}

impl MockEpoch {
    /// An epoch of these events (JSON objects), seq 0, no config.
    pub fn from_events(
        epoch: i64,
        dc: impl Into<String>,
        events: impl IntoIterator<Item = Value>,
    ) -> MockEpoch {
        MockEpoch::builder(epoch, dc).events(events).build()
    }

    /// An epoch with no events.
    pub fn empty(epoch: i64, dc: impl Into<String>) -> MockEpoch {
        MockEpoch::builder(epoch, dc).build()
    }

    /// A builder, for the seq, the config, the result size limit or the
    /// string coding.
    pub fn builder(epoch: i64, dc: impl Into<String>) -> MockEpochBuilder {
        MockEpochBuilder {
            epoch,
            dc: dc.into(),
            seq: 0,
            events: Vec::new(),
            config: Vec::new(),
            max_result_size: DEFAULT_MAX_RESULT_SIZE,
            strings: StrCoding::Auto,
        }
    }

    /// The number of events.
    pub fn rows(&self) -> u32 {
        self.data.rows
    }

    /// Whether the string column at `path` is dictionary-coded (`None`
    /// when there is no such column).
    pub fn has_dictionary(&self, path: &str) -> Option<bool> {
        self.data.has_dictionary(path)
    }

    /// Runs a job function over the epoch, as `epochd_run` would.
    ///
    /// # Panics
    /// When the job panics (the panic goes on to the test), or when called
    /// from inside another run.
    pub fn run<F, R>(&self, job: F) -> Outcome
    where
        F: FnOnce(&Epoch) -> R,
        R: JobResult,
    {
        self.call(None, |_| crate::glue::run(job))
    }

    /// Runs a merge function over two results, as `epochd_merge` would
    /// (with this epoch's number and dc, no rows and no columns).
    pub fn merge<F, R>(&self, merge: F, a: &[u8], b: &[u8]) -> Outcome
    where
        F: FnOnce(&[u8], &[u8]) -> R,
        R: JobResult,
    {
        self.call(Some([a.to_vec(), b.to_vec()]), |_| {
            crate::glue::merge(merge)
        })
    }

    fn call(&self, merge_inputs: Option<[Vec<u8>; 2]>, f: impl FnOnce(()) -> i32) -> Outcome {
        let installed = Installed::new(MockHost::new(
            Rc::clone(&self.data),
            Rc::clone(&self.config),
            self.max_result_size,
            merge_inputs,
        ));
        let code = f(());
        let host = installed.take();
        Outcome {
            code,
            result: host.result,
            failure: host.failure,
            logs: host.logs,
        }
    }
}

/// Runs a merge function over two results with an empty epoch (0, `test`):
/// the shortcut for merge-law tests.
pub fn merge<F, R>(merge: F, a: &[u8], b: &[u8]) -> Outcome
where
    F: FnOnce(&[u8], &[u8]) -> R,
    R: JobResult,
{
    MockEpoch::empty(0, "test").merge(merge, a, b)
}

/// Builds a [`MockEpoch`].
#[derive(Clone, Debug)]
pub struct MockEpochBuilder {
    epoch: i64,
    dc: String,
    seq: u32,
    events: Vec<Value>,
    config: Vec<u8>,
    max_result_size: usize,
    strings: StrCoding,
}

impl MockEpochBuilder {
    /// The commit's seq (0 = primary).
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }

    /// Adds an event (a JSON object).
    pub fn event(mut self, event: Value) -> Self {
        self.events.push(event);
        self
    }

    /// Adds events (JSON objects).
    pub fn events(mut self, events: impl IntoIterator<Item = Value>) -> Self {
        self.events.extend(events);
        self
    }

    /// The job's config bytes.
    pub fn config(mut self, config: impl Into<Vec<u8>>) -> Self {
        self.config = config.into();
        self
    }

    /// The maximum result size (default [`DEFAULT_MAX_RESULT_SIZE`]).
    pub fn max_result_size(mut self, bytes: usize) -> Self {
        self.max_result_size = bytes;
        self
    }

    /// How string columns are coded (default: as the daemon does).
    pub fn strings(mut self, coding: StrCoding) -> Self {
        self.strings = coding;
        self
    }

    /// The epoch.
    ///
    /// # Panics
    /// When an event is not a JSON object.
    pub fn build(self) -> MockEpoch {
        MockEpoch {
            data: Rc::new(EpochData::build(
                self.epoch,
                self.dc,
                self.seq,
                &self.events,
                self.strings,
            )),
            config: self.config.into(),
            max_result_size: self.max_result_size,
        }
    }
}

/// What a mock run left: the code the entry point returned, the result, the
/// failure message, the logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The entry point's return value: 0 = success.
    pub code: i32,
    /// The emitted result (empty when none).
    pub result: Vec<u8>,
    /// The message given to `fail`, if any.
    pub failure: Option<String>,
    /// The log lines kept (at most 64 lines and 16 KiB, as the host does).
    pub logs: Vec<(Level, String)>,
}

impl Outcome {
    /// Whether the run succeeded.
    pub fn is_ok(&self) -> bool {
        self.code == 0
    }

    /// The result bytes.
    ///
    /// # Panics
    /// When the run failed, with its failure message.
    #[track_caller]
    pub fn unwrap(self) -> Vec<u8> {
        if !self.is_ok() {
            panic!(
                "the job failed (code {}): {}",
                self.code,
                self.failure.as_deref().unwrap_or("no message")
            );
        }
        self.result
    }

    /// The result parsed as JSON.
    ///
    /// # Panics
    /// When the run failed or the result is not JSON.
    #[track_caller]
    pub fn json(self) -> Value {
        let bytes = self.unwrap();
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "the result is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    }
}

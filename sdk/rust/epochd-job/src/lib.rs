//! Write epochd jobs in Rust.
//!
//! The epochd daemon decodes each committed second of events (one commit of
//! (epoch, dc)) once into a columnar *epoch* and runs many small
//! WebAssembly jobs over it; each job returns a small result per commit.
//! This crate is the Rust side of that contract (ABI v1, `sdk/ABI.md`): a
//! job is one function marked [`#[job]`](job), reading the columns it needs
//! from an [`Epoch`] and returning its result, plus, optionally, a
//! [`#[merge]`](merge) function combining two results.
//!
//! # Guarantees
//! - A job built for `wasm32-unknown-unknown` imports only the `epochd`
//!   module (no WASI), and exports what ABI v1 requires: `memory`,
//!   `epochd_abi_version` (= 1), `epochd_run`, and `epochd_merge` with
//!   [`#[merge]`](merge).
//! - Every failure is reported, never swallowed: an `Err` and a result
//!   larger than the job's limit become `fail(reason)` and a non-zero
//!   return; a panic becomes `fail(message)` and a trap.
//! - [`#[merge]`](merge) obeys ABI v1's identity law by construction: an
//!   empty input returns the other input byte for byte, without calling the
//!   merge function.
//! - The same code builds natively: the exports exist only on wasm32, and
//!   [`testing::MockEpoch`] runs the job in unit tests.
//!
//! # Core types
//! - [`Epoch`]: the commit: [`epoch`](Epoch::epoch), [`seq`](Epoch::seq),
//!   [`rows`](Epoch::rows), [`dc`](Epoch::dc); columns by path and type
//!   ([`int`](Epoch::int), [`float`](Epoch::float), [`str`](Epoch::str), ...),
//!   containers ([`map`](Epoch::map), [`list`](Epoch::list)), one field of
//!   one event ([`field`](Epoch::field)).
//! - [`ScalarColumn`] ([`IntColumn`], [`FloatColumn`], [`BoolColumn`]):
//!   scanned in blocks of [`BLOCK`] values copied into an aligned buffer, as
//!   `(row, value)` ([`iter`](ScalarColumn::iter)), values alone, or whole
//!   blocks.
//! - [`StrColumn`]: dictionary ids and the [`Dictionary`], or bytes per
//!   value; [`by_row`](StrColumn::by_row) maps every row to a string id for
//!   grouping and joins ([`RowStrings`]).
//! - [`Container`]: a map with varying keys or an array; keys and values are
//!   columns over its entries.
//! - [`Output`], [`Json`]: the result; [`JobError`]: the failure.
//! - [`config`], [`log`](mod@log) ([`info!`] and friends), [`sketch`]
//!   (a mergeable percentile histogram).
//!
//! # Example
//! Events per subtype, merged across dcs by adding:
//!
//! ```
//! use std::collections::BTreeMap;
//! use epochd_job::{Epoch, JobError, Json};
//!
//! type Counts = BTreeMap<String, u64>;
//!
//! #[epochd_job::job]
//! fn run(epoch: &Epoch) -> Result<Json<Counts>, JobError> {
//!     let subtypes = epoch.strings_by_row("subtype");
//!     let mut per_id = vec![0u64; subtypes.strings().len() as usize];
//!     for id in subtypes.ids() {
//!         if let Some(n) = per_id.get_mut(*id as usize) {
//!             *n += 1; // rows without a subtype have id RowStrings::NONE
//!         }
//!     }
//!     let counts = subtypes.strings().iter()
//!         .map(|(id, s)| (String::from_utf8_lossy(s).into_owned(), per_id[id as usize]))
//!         .filter(|(_, n)| *n > 0)
//!         .collect();
//!     Ok(Json(counts))
//! }
//!
//! #[epochd_job::merge]
//! fn merge(a: &[u8], b: &[u8]) -> Result<Json<Counts>, JobError> {
//!     let mut sum: Counts = Json::parse(a)?;
//!     for (subtype, n) in Json::<Counts>::parse(b)? {
//!         *sum.entry(subtype).or_default() += n;
//!     }
//!     Ok(Json(sum))
//! }
//!
//! // Natively, the same functions run over a mock epoch:
//! use epochd_job::testing::{self, MockEpoch};
//! use serde_json::json;
//! let epoch = MockEpoch::from_events(1_700_000_000, "ams4", [
//!     json!({"type": "WEB", "subtype": "app"}),
//!     json!({"type": "WEB", "subtype": "app"}),
//!     json!({"type": "AV", "subtype": "availability_cluster"}),
//! ]);
//! let a = epoch.run(run).unwrap();
//! assert_eq!(a, br#"{"app":2,"availability_cluster":1}"#);
//! let both = testing::merge(merge, &a, &a).unwrap();
//! assert_eq!(both, br#"{"app":4,"availability_cluster":2}"#);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-unknown-unknown`
//! in a `cdylib` crate; `sdk/rust/README.md` has the crate template.
#![deny(missing_docs)]

mod buffer;
mod column;
mod config;
mod container;
mod epoch;
mod error;
mod glue;
mod host;
pub mod log;
mod output;
mod row_ids;
pub mod sketch;
mod strings;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use buffer::BLOCK;
pub use column::{
    Block, BoolColumn, Column, FloatColumn, IntColumn, Iter, RawColumn, Scalar, ScalarColumn,
    Values,
};
pub use config::{config, config_json, config_str};
pub use container::Container;
pub use epoch::{Epoch, Value};
/// The raw ABI v1 imports and codes (`epochd-job-sys`), for what this crate
/// does not wrap.
pub use epochd_job_sys as sys;
pub use epochd_job_sys::{ContainerKind, ErrorCode, ValueType};
pub use error::JobError;
pub use output::{IntoOutput, JobResult, Json, Output};
pub use row_ids::RowIds;
pub use strings::{Dictionary, RowStrings, StrColumn};

/// Marks the function a job runs once per commit of (epoch, dc).
///
/// ```text
/// #[epochd_job::job]
/// fn run(epoch: &Epoch) -> Result<T, E>   // T: IntoOutput, E: Into<JobError>
/// ```
///
/// The function is left as it is (so it can be called natively, e.g. by
/// [`testing::MockEpoch::run`]); on wasm32 the attribute adds the exports
/// `epochd_abi_version` (returns 1) and `epochd_run`, which installs a panic
/// hook reporting through `fail`, calls the function, and emits `Ok`'s
/// bytes (nothing for an empty result) or reports `Err` with `fail`
/// and returns 1. A result over the job's maximum size is such an error.
///
/// One `#[job]` per crate (the export names are fixed). A wrong signature is
/// a compile error, on native builds too:
///
/// ```compile_fail
/// #[epochd_job::job]
/// fn run(epoch: &epochd_job::Epoch, extra: u32) -> Result<(), epochd_job::JobError> { Ok(()) }
/// ```
///
/// ```compile_fail
/// #[epochd_job::job]
/// fn run(epoch: &epochd_job::Epoch) -> Result<u32, epochd_job::JobError> { Ok(1) } // u32 is no result
/// ```
pub use epochd_job_macros::job;

/// Marks the function combining two results of the job into one (for other
/// dcs, other nodes).
///
/// ```text
/// #[epochd_job::merge]
/// fn merge(a: &[u8], b: &[u8]) -> Result<T, E>   // T: IntoOutput, E: Into<JobError>
/// ```
///
/// On wasm32 the attribute adds the export `epochd_merge`, which reads the
/// two inputs, returns the other one unchanged when one is empty (ABI v1's
/// identity law, so the function never sees an empty input), calls the
/// function otherwise, and emits or reports as [`#[job]`](job) does.
///
/// ABI v1 also requires associativity: `merge(a, merge(b, c)) ==
/// merge(merge(a, b), c)` byte for byte. Parse both inputs, combine, and
/// serialize canonically (e.g. `BTreeMap`s, values derived from the
/// combined counts), and it holds.
///
/// ```compile_fail
/// #[epochd_job::merge]
/// fn merge(a: &[u8]) -> Result<Vec<u8>, epochd_job::JobError> { Ok(a.to_vec()) }
/// ```
pub use epochd_job_macros::merge;

#[doc(hidden)]
pub mod __private {
    //! Used by the code `#[job]` and `#[merge]` write. Not public API.
    pub use crate::glue::{assert_job, assert_merge, merge, run, ABI_VERSION};
}

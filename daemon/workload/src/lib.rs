//! A deterministic generator of epochd's reference workload: the Booking-like event mix
//! specified in `docs/WORKLOAD.md`, used by the store's tests, the `epochd gen` load
//! generator, the demo traffic of `epochd serve --demo-rate` and every benchmark.
//!
//! The mix: 40% large, nested WEB events (~1.24 KB in MessagePack, ~49 leaves, with a
//! dynamic-key `experiments` map and a `warnings` array) and 60% small AV events
//! (~150 B), spread over the data centers ams4 3/7, ams5 2/7, lhr4 1/7, fra3 1/7. On
//! average an event is ~584 B in MessagePack and ~686 B in JSON.
//!
//! # Guarantees
//!
//! - **Deterministic by coordinates.** Event `i` of `epoch(e, n)` is a pure function of
//!   the [`WorkloadConfig`], `e`, `i` and, for its timestamp only, `n`. Any epoch, or any
//!   part of one, can be generated on its own, in any order, on any thread.
//! - **Stable bytes.** The crate uses its own PRNG (xoshiro256** seeded by SplitMix64),
//!   so dependency upgrades do not change the output. What can: a new
//!   [`WORKLOAD_VERSION`] of this crate, and, in rare last-digit cases of a float, a
//!   different platform maths library (`ln`, `exp`, `sin`/`cos` are the system's).
//! - **Two encodings, one value.** [`Event::write_msgpack`] and [`Event::write_json`]
//!   are driven by the same description of the event, so they decode to the same value:
//!   same keys in the same order, integers as integers, floats as floats (JSON floats
//!   always carry a `.` or an exponent). Neither builds a value tree.
//! - **Timestamps in order.** Events come in non-decreasing `timestamp` order, each
//!   inside its epoch, at whole microseconds.
//!
//! # Example
//!
//! ```
//! use epochd_workload::{Format, Kind, Workload, WorkloadConfig};
//!
//! let workload = Workload::new(WorkloadConfig::default());
//!
//! // Route events by data center without re-parsing them.
//! let mut ams4 = Vec::new();
//! for event in workload.epoch(1_700_000_000, 1_000) {
//!     assert_eq!(event.epoch(), 1_700_000_000);
//!     assert!(event.timestamp() >= 1_700_000_000.0 && event.timestamp() < 1_700_000_001.0);
//!     if event.dc() == "ams4" && event.kind() == Kind::Web {
//!         event.write_msgpack(&mut ams4);
//!     }
//! }
//! assert!(!ams4.is_empty());
//!
//! // Or a whole epoch at once; the same inputs give the same bytes.
//! let ndjson = workload.encode_epoch(1_700_000_000, 1_000, Format::Ndjson);
//! assert_eq!(ndjson.iter().filter(|&&b| b == b'\n').count(), 1_000);
//! assert_eq!(ndjson, workload.encode_epoch(1_700_000_000, 1_000, Format::Ndjson));
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod dict;
mod dist;
mod encode;
mod event;
mod gen;
mod rng;
mod workload;

pub use event::{Event, Kind};
pub use workload::{ConfigError, EpochEvents, Format, Workload, WorkloadConfig};

/// Version of the generated workload. Bumped whenever the same config and coordinates
/// would generate different events, so that benchmark results can record which input
/// they were measured on.
pub const WORKLOAD_VERSION: u32 = 1;

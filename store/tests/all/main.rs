//! Integration tests of the store: a real sled database on a temp dir.

mod bad_input;
mod closure;
mod corrupt;
mod crash;
mod faults;
mod idempotency;
mod ingest;
mod low_level;
mod replay;
mod retention;
mod support;

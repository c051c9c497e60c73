//! Native tests of the SDK over the mock epoch: one module per feature.

mod columns;
mod containers;
mod glue;
mod sketch;
mod strings;

pub use epochd_job::testing::Rng;

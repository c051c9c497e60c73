//! Traffic for a node: the built-in demo events of `serve --demo-rate`,
//! and `epochd gen`, the load generator that posts the reference workload
//! to a node's API (docs/WORKLOAD.md).

pub mod demo;
pub mod gen;

pub use demo::DemoTraffic;

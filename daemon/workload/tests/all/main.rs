//! Integration tests of the reference workload generator, one module per property.

mod determinism;
mod encodings;
mod mix;
mod shape;
mod sizes;
mod support;

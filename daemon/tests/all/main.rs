//! End-to-end tests of the `epochd` binary: real processes, real HTTP on
//! loopback, a real Unix socket between store and daemon.

mod api;
mod architecture;
mod bad_input;
mod browser;
mod byte_exact;
mod cli;
mod cluster;
mod cluster_gateway;
mod cluster_jobs;
mod cluster_relocate;
mod conformance;
mod conformance_cluster;
mod corrupt;
mod hostile;
mod http;
mod idempotency;
mod jobs;
mod kill9;
mod lanes;
mod limits;
mod openapi;
mod split;
mod starter;
mod support;

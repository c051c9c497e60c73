//! End-to-end tests of the `epochd` binary: real processes, real HTTP on
//! loopback, a real Unix socket between store and daemon.

mod bad_input;
mod http;
mod jobs;
mod kill9;
mod split;
mod support;

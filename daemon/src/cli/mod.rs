//! The command line: its arguments (`args`, those that run a node in
//! `node_args`), and the client of a node's
//! HTTP API behind `epochd job` and `epochd results`: the shared HTTP
//! client (`client`), the job commands (`jobs`), the results commands
//! (`results`), the Server-Sent Events parser they follow streams with
//! (`sse`), what they print for a person (`format`), and the starter of a
//! new job (`starter`).

pub mod args;
mod client;
mod format;
mod jobs;
mod node_args;
mod results;
mod sse;
pub mod starter;

pub use args::{Cli, Command};
pub use client::{Remote, RemoteError};
pub use format::{compact, epoch_line, utc};
pub use jobs::job;
pub use results::results;
pub use sse::{SseEvent, SseParser};

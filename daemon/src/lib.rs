//! The epochd node: the store's HTTP API, the companion daemon (commit
//! notice -> decode once -> jobs -> results), the built-in demo traffic, the
//! load generator, and the command line that runs them in embedded or split
//! mode.
//!
//! The parts, in the order an event meets them (docs/ARCHITECTURE.md):
//! `node` wires the two modes; `api` is the HTTP API; `pipeline` takes a
//! commit notice to job runs; `registry` holds the jobs; `results` stores,
//! merges, renders and streams what they produced; `cli` is the command
//! line and its client; `traffic` makes events (demo, `epochd gen`). Each
//! depends only on those before it in: clock, registry, results, pipeline,
//! cluster (cluster mode's jobs), gateway (results merged across a
//! cluster's nodes), api, traffic, node, cli.
//!
//! The binary (`src/main.rs`) only parses arguments, starts logging and calls
//! [`run`].
#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod gateway;
pub mod node;
pub mod pipeline;
pub mod registry;
pub mod results;
pub mod shutdown;
pub mod traffic;

pub use cli::run;

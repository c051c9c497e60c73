//! The epochd node: the store's HTTP API, the companion daemon (commit
//! notice -> decode once -> jobs -> results), the built-in demo traffic, the
//! load generator, and the command line that runs them in embedded or split
//! mode.
//!
//! The binary (`src/main.rs`) only parses arguments, starts logging and calls
//! [`run`].
#![deny(missing_docs)]

pub mod alloc;
pub mod api;
pub mod cli;
pub mod demo;
pub mod gen;
pub mod node;
pub mod pipeline;
pub mod results;

use std::sync::atomic::Ordering;

use cli::{Cli, Command};

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            node,
            demo_rate,
            daemon,
        } => {
            let options = daemon.options(&node.data);
            node::serve(node.store_config(), node.listen, demo_rate, options).await
        }
        Command::Store { node, hook_socket } => {
            node::store(node.store_config(), node.listen, hook_socket).await
        }
        Command::Daemon {
            hook_socket,
            store_url,
            node,
            data,
            daemon,
        } => node::daemon(hook_socket, store_url, node, daemon.options(&data)).await,
        Command::Gen(args) => {
            let report = gen::run(args.options()).await?;
            println!(
                "epochd gen: {} events acknowledged in {} requests, {} requests failed",
                report.events_acked.load(Ordering::Relaxed),
                report.requests_acked.load(Ordering::Relaxed),
                report.requests_failed.load(Ordering::Relaxed),
            );
            Ok(())
        }
    }
}

//! The epochd node: the store's HTTP API, the companion daemon (commit
//! notice -> decode once -> jobs -> results), the built-in demo traffic, the
//! load generator, and the command line that runs them in embedded or split
//! mode.
//!
//! The binary (`src/main.rs`) only parses arguments, starts logging and calls
//! [`run`].
#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod clock;
pub mod node;
pub mod pipeline;
pub mod registry;
pub mod results;
pub mod shutdown;
pub mod traffic;

use std::sync::atomic::Ordering;

use cli::{Cli, Command};

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            node,
            auth,
            demo_rate,
            daemon,
            http,
        } => {
            let options = daemon.options(&node.data);
            let auth = auth.auth(node.listen)?;
            node::serve(
                node.store_config(),
                node.listen,
                auth,
                demo_rate,
                options,
                http.limits(),
            )
            .await
        }
        Command::Store {
            node,
            auth,
            hook_socket,
            hook_secret_file,
            http,
        } => {
            let auth = auth.auth(node.listen)?;
            let hook = node::HookSocket {
                socket: hook_socket,
                secret_file: hook_secret_file,
            };
            node::store(node.store_config(), node.listen, auth, hook, http.limits()).await
        }
        Command::Daemon {
            hook_socket,
            hook_secret_file,
            store_url,
            store_token,
            listen,
            auth,
            node,
            data,
            daemon,
            http,
        } => {
            let auth = auth.auth(listen)?;
            let store = node::StoreLink {
                hook: node::HookSocket {
                    socket: hook_socket,
                    secret_file: hook_secret_file,
                },
                url: store_url,
                token: store_token,
            };
            node::daemon(
                store,
                node,
                listen,
                auth,
                daemon.options(&data),
                http.limits(),
            )
            .await
        }
        Command::Gen(args) => {
            let report = traffic::gen::run(args.options()).await?;
            println!(
                "epochd gen: {} events acknowledged in {} requests, {} requests failed, {} retried, {} seconds not sent (too slow)",
                report.events_acked.load(Ordering::Relaxed),
                report.requests_acked.load(Ordering::Relaxed),
                report.requests_failed.load(Ordering::Relaxed),
                report.requests_retried.load(Ordering::Relaxed),
                report.seconds_skipped.load(Ordering::Relaxed),
            );
            Ok(())
        }
        Command::Job { client, command } => cli::job(client, command).await,
        Command::Results { client, command } => cli::results(client, command).await,
    }
}

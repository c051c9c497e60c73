//! The command line: its arguments (`args`, those that run a node in
//! `node_args`), and the client of a node's
//! HTTP API behind `epochd job` and `epochd results`: the shared HTTP
//! client (`client`), the job commands (`jobs`), the results commands
//! (`results`), the cluster's status (`cluster`), the Server-Sent Events parser they follow streams with
//! (`sse`), what they print for a person (`format`), and the starter of a
//! new job (`starter`).

use std::sync::atomic::Ordering;

pub mod args;
mod client;
mod cluster;
mod format;
mod jobs;
mod node_args;
mod results;
mod sse;
pub mod starter;

pub use args::{Cli, Command};
pub use client::{Remote, RemoteError};
pub use cluster::cluster;
pub use format::{compact, epoch_line, utc};
pub use jobs::job;
pub use results::results;
pub use sse::{SseEvent, SseParser};

/// Runs one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            node,
            auth,
            demo_rate,
            daemon,
            http,
            cluster,
        } => {
            let options = daemon.options(&node.data);
            let auth = auth.auth(node.listen)?;
            let cluster = cluster.join(node.listen)?;
            crate::node::serve(
                node.store_config(),
                node.listen,
                auth,
                demo_rate,
                options,
                http.limits(),
                cluster,
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
            let hook = crate::node::HookSocket {
                socket: hook_socket,
                secret_file: hook_secret_file,
            };
            crate::node::store(node.store_config(), node.listen, auth, hook, http.limits()).await
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
            let store = crate::node::StoreLink {
                hook: crate::node::HookSocket {
                    socket: hook_socket,
                    secret_file: hook_secret_file,
                },
                url: store_url,
                token: store_token,
            };
            crate::node::daemon(
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
            let report = crate::traffic::gen::run(args.options()).await?;
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
        Command::Job { client, command } => job(client, command).await,
        Command::Results { client, command } => results(client, command).await,
        Command::Cluster { client, command } => cluster(client, command).await,
    }
}

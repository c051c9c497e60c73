//! The command line: `epochd serve | store | daemon | gen`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use epochd_store::StoreConfig;

use crate::gen::{GenOptions, IngestPath};

/// epochd: an epoch-keyed event store with a companion daemon that runs many
/// small jobs over each committed second of events.
#[derive(Debug, Parser)]
#[command(name = "epochd", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one node with store, daemon and HTTP API in one process (embedded mode).
    Serve {
        /// Store and API settings.
        #[command(flatten)]
        node: NodeArgs,
        /// Tokens.
        #[command(flatten)]
        auth: AuthArgs,
        /// Also generate this many Booking-like events per second (0 = none).
        #[arg(long, default_value_t = 0)]
        demo_rate: u32,
        /// Daemon settings.
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Run the store and its HTTP API; commit notices go to a daemon over a Unix socket.
    Store {
        /// Store and API settings.
        #[command(flatten)]
        node: NodeArgs,
        /// Tokens.
        #[command(flatten)]
        auth: AuthArgs,
        /// Unix socket the daemon connects to.
        #[arg(long, default_value = "epochd-hooks.sock")]
        hook_socket: PathBuf,
    },
    /// Run the companion daemon: receive the store's commit notices over its Unix socket.
    Daemon {
        /// Unix socket of the store.
        #[arg(long, default_value = "epochd-hooks.sock")]
        hook_socket: PathBuf,
        /// The store's HTTP API, to read commits from.
        #[arg(long, default_value = "http://127.0.0.1:8790")]
        store_url: String,
        /// The store's admin token (its raw reads need it).
        #[arg(long, env = "EPOCHD_STORE_TOKEN", hide_env_values = true)]
        store_token: Option<String>,
        /// Address of the daemon's HTTP API (jobs, results, streams, web page).
        #[arg(long, default_value = "127.0.0.1:8791")]
        listen: SocketAddr,
        /// Tokens of the daemon's API.
        #[command(flatten)]
        auth: AuthArgs,
        /// This node's name in the handshake.
        #[arg(long, default_value = "")]
        node: String,
        /// The daemon's data directory (jobs and results).
        #[arg(long, default_value = "epochd-data")]
        data: PathBuf,
        /// Daemon settings.
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Send generated Booking-like events to a node, in real time.
    Gen(GenArgs),
}

/// Who may do what (docs/API.md, Authentication).
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Token for everything: jobs, raw events, and what the others allow.
    #[arg(long, env = "EPOCHD_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Token for reading jobs, results and streams.
    #[arg(long, env = "EPOCHD_READ_TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
    /// Token for ingesting events.
    #[arg(long, env = "EPOCHD_INGEST_TOKEN", hide_env_values = true)]
    pub ingest_token: Option<String>,
    /// Run without tokens (only on a loopback address).
    #[arg(long)]
    pub no_auth: bool,
}

impl AuthArgs {
    /// The tokens, checked for an API on `listen`.
    pub fn auth(&self, listen: SocketAddr) -> anyhow::Result<crate::api::Auth> {
        Ok(crate::api::Auth::new(
            listen,
            self.admin_token.clone(),
            self.read_token.clone(),
            self.ingest_token.clone(),
            self.no_auth,
        )?)
    }
}

/// Settings of a node's store and HTTP API.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Data directory (database, write-ahead log, chunk files).
    #[arg(long, default_value = "epochd-data")]
    pub data: PathBuf,
    /// Address of the HTTP API. Port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8790")]
    pub listen: SocketAddr,
    /// This node's name in commit notices (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
    /// dc of events that carry none.
    #[arg(long, default_value = "local")]
    pub default_dc: String,
    /// Milliseconds an epoch waits for late events after its second ends.
    #[arg(long, default_value_t = 1000)]
    pub grace_ms: u64,
    /// Seconds epochs are kept.
    #[arg(long, default_value_t = 6 * 3600)]
    pub retention_secs: u64,
    /// Largest ingest request body, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    pub max_body_bytes: usize,
}

impl NodeArgs {
    /// The store configuration these flags describe.
    pub fn store_config(&self) -> StoreConfig {
        let mut config = StoreConfig::new(&self.data);
        if let Some(node) = &self.node {
            config.node.clone_from(node);
        }
        config.default_dc.clone_from(&self.default_dc);
        config.grace_ms = self.grace_ms;
        config.retention_secs = self.retention_secs;
        config.max_body_bytes = self.max_body_bytes;
        // One event can never be larger than the body that carries it.
        config.max_event_bytes = config.max_event_bytes.min(self.max_body_bytes);
        config
    }
}

/// Settings of the companion daemon.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Register every NAME.wasm of this directory at start (manifest from NAME.json if present).
    #[arg(long)]
    pub jobs_dir: Option<PathBuf>,
    /// Threads running jobs (default: the number of cores).
    #[arg(long)]
    pub job_threads: Option<usize>,
    /// Most bytes of decoded epochs held at once.
    #[arg(long, default_value_t = 1 << 30)]
    pub decode_budget_bytes: usize,
    /// Run without CPU caps (cgroups), with deadlines only.
    #[arg(long)]
    pub no_cgroups: bool,
    /// Largest job submission (manifest and module), bytes.
    #[arg(long, default_value_t = crate::api::DEFAULT_MAX_JOB_BYTES)]
    pub max_job_bytes: usize,
    /// Longest an epoch's stream event waits for the epoch's other dcs, ms.
    #[arg(long, default_value_t = 2000)]
    pub stream_settle_ms: u64,
}

impl DaemonArgs {
    /// The daemon options these flags describe, keeping data under `data`.
    pub fn options(&self, data: &std::path::Path) -> crate::node::DaemonOptions {
        let mut config = crate::pipeline::DaemonConfig::new(data);
        if let Some(n) = self.job_threads {
            config.job_threads = n;
        }
        config.budget_bytes = self.decode_budget_bytes;
        if self.no_cgroups {
            config.cgroups = None;
        }
        config.streams.settle = Duration::from_millis(self.stream_settle_ms);
        crate::node::DaemonOptions {
            config,
            jobs_dir: self.jobs_dir.clone(),
            max_job_bytes: self.max_job_bytes,
        }
    }
}

/// Flags of `epochd gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Base URL of the node.
    #[arg(long, default_value = "http://127.0.0.1:8790")]
    pub url: String,
    /// Events per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Seconds to run (0 = until interrupted).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// Workload seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Encoding: msgpack or ndjson (high-level path).
    #[arg(long, value_enum, default_value_t = Encoding::Msgpack)]
    pub format: Encoding,
    /// Ingest path: high (POST events) or low (PUT chunks + manifest).
    #[arg(long, value_enum, default_value_t = IngestPath::High)]
    pub path: IngestPath,
    /// Events per request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Ask for an answer only once the events are committed.
    #[arg(long)]
    pub wait_commit: bool,
    /// Write one JSON line per acknowledged batch to this file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// The node's ingest (or admin) token.
    #[arg(long, env = "EPOCHD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Event encodings on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// MessagePack maps back to back.
    Msgpack,
    /// One JSON object per line.
    Ndjson,
}

impl GenArgs {
    /// The generator options these flags describe.
    pub fn options(&self) -> GenOptions {
        GenOptions {
            url: self.url.trim_end_matches('/').to_owned(),
            rate: self.rate,
            duration: (self.duration > 0).then(|| Duration::from_secs(self.duration)),
            seed: self.seed,
            format: match self.format {
                Encoding::Msgpack => epochd_workload::Format::MsgPack,
                Encoding::Ndjson => epochd_workload::Format::Ndjson,
            },
            path: self.path,
            batch_events: self.batch,
            concurrency: self.concurrency,
            wait_commit: self.wait_commit,
            record: self.record.clone(),
            token: self.token.clone(),
        }
    }
}

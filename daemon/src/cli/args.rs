//! The command line: `epochd serve | store | daemon | gen | job | results`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use super::node_args::{
    AuthArgs, ClusterArgs, DaemonArgs, Encoding, GenArgs, HttpArgs, NodeArgs,
};

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
        /// HTTP server limits.
        #[command(flatten)]
        http: HttpArgs,
        /// Cluster mode.
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Run the store and its HTTP API; commit notices go to a daemon over a Unix socket.
    Store {
        /// Store and API settings.
        #[command(flatten)]
        node: NodeArgs,
        /// Tokens.
        #[command(flatten)]
        auth: AuthArgs,
        /// Unix socket the daemon connects to (created with mode 0600).
        #[arg(long, default_value = "epochd-hooks.sock")]
        hook_socket: PathBuf,
        /// File holding the secret the daemon must prove it knows; created (random, mode
        /// 0600) if absent. Default: the hook socket's path with `.secret` appended.
        #[arg(long)]
        hook_secret_file: Option<PathBuf>,
        /// HTTP server limits.
        #[command(flatten)]
        http: HttpArgs,
    },
    /// Run the companion daemon: receive the store's commit notices over its Unix socket.
    Daemon {
        /// Unix socket of the store.
        #[arg(long, default_value = "epochd-hooks.sock")]
        hook_socket: PathBuf,
        /// The store's hook secret file (`epochd store --hook-secret-file`), read to
        /// prove to the store that this is its daemon. Default: the hook socket's path
        /// with `.secret` appended, where the store creates it by default.
        #[arg(long)]
        hook_secret_file: Option<PathBuf>,
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
        /// HTTP server limits.
        #[command(flatten)]
        http: HttpArgs,
    },
    /// Send generated Booking-like events to a node, in real time.
    Gen(GenArgs),
    /// Submit, list, show, pause, resume and delete a node's jobs.
    #[command(
        after_help = "Examples:\n  epochd job new my-job --lang rust\n  epochd job submit wasm-jobs/out/count.wasm\n  epochd job ls\n  epochd job show count\n  epochd job pause count && epochd job resume count\n  epochd job rm count"
    )]
    Job {
        /// Where the node is and its token.
        #[command(flatten)]
        client: ClientArgs,
        /// What to do.
        #[command(subcommand)]
        command: JobCommand,
    },
    /// The cluster the node is in: its nodes, their state and how far each has closed.
    #[command(after_help = "Examples:\n  epochd cluster status\n  epochd cluster status --json")]
    Cluster {
        /// Where the node is and its token.
        #[command(flatten)]
        client: ClientArgs,
        /// What to show.
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Read a job's per-second results: a range of epochs, or live.
    #[command(
        after_help = "Examples:\n  epochd results tail count\n  epochd results get count --from now-60\n  epochd results get count --from 1763800000 --to 1763800059 --json"
    )]
    Results {
        /// Where the node is and its token.
        #[command(flatten)]
        client: ClientArgs,
        /// What to read.
        #[command(subcommand)]
        command: ResultsCommand,
    },
}

/// How the command-line client reaches a node (`epochd job`, `epochd results`).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Node")]
pub struct ClientArgs {
    /// Base URL of the node's API (in split mode: the daemon's, `epochd daemon --listen`).
    #[arg(
        long,
        env = "EPOCHD_URL",
        default_value = "http://127.0.0.1:8790",
        global = true
    )]
    pub url: String,
    /// The node's token: admin to submit, pause, resume or delete jobs; read (or admin) to
    /// list jobs and read results. Not needed by a node run with --no-auth.
    #[arg(long, env = "EPOCHD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

/// `epochd cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The nodes of the cluster as the node at --url sees them (needs the read token).
    Status {
        /// Print the node's answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `epochd job ...`.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Submit a job: a WebAssembly module (sdk/ABI.md) and its manifest (needs the admin token).
    ///
    /// The manifest is the JSON of docs/API.md (Jobs); every flag sets its field, over the
    /// --manifest file's. The name defaults to the module's file stem.
    Submit(Box<SubmitArgs>),
    /// List the jobs: state, runs, errors, CPU seconds, last epoch, lag, commits waiting.
    #[command(visible_alias = "list")]
    Ls {
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one job: manifest, state, stats and backfill.
    Show {
        /// The job's name.
        name: String,
        /// Print the API's JSON (pretty) instead of a readable block.
        #[arg(long)]
        json: bool,
    },
    /// Delete a job: it stops at once; its results stay readable until their retention (24 h).
    #[command(visible_alias = "delete")]
    Rm {
        /// The job's name.
        name: String,
    },
    /// Pause a job: it runs on no commit until resumed.
    Pause {
        /// The job's name.
        name: String,
    },
    /// Resume a paused job (also one the daemon paused after repeated failures).
    Resume {
        /// The job's name.
        name: String,
    },
    /// Write a new job project from a template (no node needed): its README
    /// builds, submits and follows it in three commands.
    New(super::starter::NewArgs),
    /// Print what a job logged in its runs (the ABI's `log`), one line each:
    /// epoch, dc/seq, level, text; `(run failed)` marks a failed run's lines.
    Logs {
        /// The job's name.
        name: String,
        /// First epoch: unix seconds, `now` or `now-N` (default: now-300;
        /// with --follow, now).
        #[arg(long, value_name = "EPOCH", value_parser = parse_epoch)]
        from: Option<u64>,
        /// Keep following: print lines as the job's runs finish (Ctrl-C to stop).
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print the API's JSON instead of lines (one object per line with --follow).
        #[arg(long)]
        json: bool,
    },
}

/// Flags of `epochd job submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job's WebAssembly module (.wasm), e.g. wasm-jobs/out/count.wasm.
    pub wasm: PathBuf,
    /// A manifest file (JSON, docs/API.md Jobs) to start from.
    #[arg(long, value_name = "FILE.json")]
    pub manifest: Option<PathBuf>,
    /// The job's name (1-64 of a-z 0-9 _ -); default: the manifest's, else the module's file stem.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// Data centers whose commits it runs on, comma-separated (default: every dc).
    #[arg(long, value_delimiter = ',', value_name = "DC,...")]
    pub dcs: Option<Vec<String>>,
    /// Event types it needs, comma-separated: it runs on commits holding one (default: every commit).
    #[arg(long, value_delimiter = ',', value_name = "TYPE,...")]
    pub types: Option<Vec<String>>,
    /// Share of one core its runs may use, 0 < F <= 1 (default 0.1).
    #[arg(long, value_name = "F")]
    pub cpu_share: Option<f64>,
    /// Most linear memory a run may use, MiB (default 64).
    #[arg(long, value_name = "N")]
    pub memory_mib: Option<u32>,
    /// Wall-clock deadline of one run, ms (default 1000).
    #[arg(long, value_name = "N")]
    pub deadline_ms: Option<u64>,
    /// Largest result one run may emit, bytes (default 65536).
    #[arg(long, value_name = "N")]
    pub max_result_bytes: Option<u64>,
    /// Text the job reads with config_read.
    #[arg(long, value_name = "TEXT")]
    pub config: Option<String>,
    /// Also run the job over the commits already stored from this epoch (unix seconds, `now`
    /// or `now-N`).
    #[arg(long, value_name = "EPOCH", value_parser = parse_epoch)]
    pub backfill_from: Option<u64>,
    /// Last epoch of the backfill (default: now).
    #[arg(long, value_name = "EPOCH", value_parser = parse_epoch)]
    pub backfill_to: Option<u64>,
}

/// `epochd results ...`.
#[derive(Debug, Subcommand)]
pub enum ResultsCommand {
    /// Print a job's stored results for a range of epochs, one line per epoch.
    Get {
        /// The job's name.
        job: String,
        /// First epoch: unix seconds, `now` or `now-N` (N seconds ago).
        #[arg(long, value_name = "EPOCH", value_parser = parse_epoch)]
        from: u64,
        /// Last epoch, included (default: now).
        #[arg(long, value_name = "EPOCH", value_parser = parse_epoch)]
        to: Option<u64>,
        /// Print the API's JSON (`{"job","from","to","epochs":[...]}`) instead of lines.
        #[arg(long)]
        json: bool,
        /// The cluster's merged results (the node's gateway, docs/CLUSTER.md): each epoch
        /// merged over every node, marked PARTIAL when a node is missing.
        #[arg(long)]
        cluster: bool,
    },
    /// Follow a job's results live, one line per epoch (Ctrl-C to stop).
    ///
    /// Each line: the epoch, its time (UTC), how long after the second ended its results
    /// left the node, and the merged result (`merged(N)`: the job's merge of N results, one per
    /// dc), else each dc's result or error. Results arriving for an epoch already printed are
    /// printed as `late`. Long results are cut to the terminal's width (COLUMNS). Reconnects by itself (Last-Event-ID) when the
    /// connection drops or the node ends the stream, with nothing lost or repeated.
    Tail {
        /// The job's name.
        job: String,
        /// Start from this epoch (stored results first, then live); default: from now.
        #[arg(long, value_name = "EPOCH", value_parser = parse_epoch)]
        from: Option<u64>,
        /// Print each event's JSON on one line instead of a summary.
        #[arg(long)]
        json: bool,
        /// The cluster's merged results (the node's gateway, docs/CLUSTER.md): each epoch
        /// merged over every node, marked PARTIAL when a node is missing, and printed again
        /// (v2, v3...) when a late node corrects it.
        #[arg(long)]
        cluster: bool,
    },
}

/// An epoch on the command line: unix seconds, `now`, or `now-N`.
pub fn parse_epoch(s: &str) -> Result<u64, String> {
    let now = crate::clock::now_secs;
    let bad =
        || format!("{s:?} is not an epoch: give unix seconds, `now` or `now-N` (N seconds ago)");
    match s.trim() {
        "now" => Ok(now()),
        t => match t.strip_prefix("now-") {
            Some(n) => {
                Ok(now().saturating_sub(n.trim_end_matches('s').parse().map_err(|_| bad())?))
            }
            None => t.parse().map_err(|_| bad()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_on_the_command_line() {
        assert_eq!(parse_epoch("1763800000"), Ok(1_763_800_000));
        let now = crate::clock::now_secs();
        assert!(parse_epoch("now").unwrap() >= now);
        assert!(parse_epoch("now-60").unwrap() + 60 >= now);
        assert!(parse_epoch("yesterday").is_err());
    }
}

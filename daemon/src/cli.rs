//! The command line: `epochd serve | store | daemon | gen | job | results`.

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
        /// HTTP server limits.
        #[command(flatten)]
        http: HttpArgs,
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
    New(crate::starter::NewArgs),
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
    },
}

/// An epoch on the command line: unix seconds, `now`, or `now-N`.
pub fn parse_epoch(s: &str) -> Result<u64, String> {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
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
    /// Free disk space kept for commits: ingest is refused (507) once a
    /// write would leave less free under the data directory. 0 turns it off.
    #[arg(long, default_value_t = 128 << 20)]
    pub disk_reserve_bytes: u64,
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
        config.disk_reserve_bytes = self.disk_reserve_bytes;
        // One event can never be larger than the body that carries it.
        config.max_event_bytes = config.max_event_bytes.min(self.max_body_bytes);
        config
    }
}

/// Limits of the HTTP server (docs/API.md, "Limits").
#[derive(Debug, Args)]
#[command(next_help_heading = "HTTP limits")]
pub struct HttpArgs {
    /// Connections served at once; one more is answered 503 and closed.
    /// Lowered at start to leave 256 file descriptors for the node itself.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
    /// Milliseconds a connection may take to send a request's headers,
    /// counted from when it connected or got its previous answer (so also
    /// the idle timeout of keep-alive connections).
    #[arg(long, default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Milliseconds a request body may take to arrive (408 after).
    #[arg(long, default_value_t = 60_000)]
    pub body_timeout_ms: u64,
}

impl HttpArgs {
    /// The limits these flags describe. Raises the process's open-file
    /// limit to its maximum first, and fits the connection cap under it.
    pub fn limits(&self) -> crate::connections::HttpLimits {
        let fd_limit = crate::connections::raise_fd_limit();
        let cap = crate::connections::connection_cap(self.max_connections, fd_limit);
        if cap < self.max_connections {
            tracing::info!(
                configured = self.max_connections,
                cap,
                fd_limit,
                "connection cap lowered to leave file descriptors for the node"
            );
        }
        crate::connections::HttpLimits {
            max_connections: cap,
            header_timeout: Duration::from_millis(self.header_timeout_ms.max(1)),
            body_timeout: Duration::from_millis(self.body_timeout_ms.max(1)),
        }
    }
}

/// Settings of the companion daemon.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Register every NAME.wasm of this directory at start (manifest from NAME.json if present).
    #[arg(long)]
    pub jobs_dir: Option<PathBuf>,
    /// Runs at once, each on its own job thread (default 64; without CPU
    /// caps, at most the number of cores).
    #[arg(long)]
    pub job_threads: Option<usize>,
    /// Most bytes of decoded epochs held at once.
    #[arg(long, default_value_t = 1 << 30)]
    pub decode_budget_bytes: usize,
    /// Most bytes of job memory caps held by runs at once (a run waits for
    /// room; a job asking for more is refused).
    #[arg(long, default_value_t = 2 << 30)]
    pub run_memory_bytes: usize,
    /// Pause a job whose oldest unfinished run has waited this long while
    /// its own runs kept it busy, in seconds.
    #[arg(long, default_value_t = 10)]
    pub pause_behind_secs: u64,
    /// Bytes of results each job may store per second, on average (bursts
    /// of 10 s).
    #[arg(long, default_value_t = 1 << 20)]
    pub job_results_bytes_per_sec: u64,
    /// Bytes of results each job may have stored at once.
    #[arg(long, default_value_t = 1 << 30)]
    pub job_results_stored_bytes: u64,
    /// Results of epochs older than this are deleted, in seconds.
    #[arg(long, default_value_t = 86_400)]
    pub results_retention_secs: u64,
    /// Run without CPU caps (cgroups), with deadlines only.
    #[arg(long)]
    pub no_cgroups: bool,
    /// Largest job submission (manifest and module), bytes.
    #[arg(long, default_value_t = crate::api::DEFAULT_MAX_JOB_BYTES)]
    pub max_job_bytes: usize,
    /// Longest an epoch's stream event waits for the epoch's other dcs, ms.
    #[arg(long, default_value_t = 2000)]
    pub stream_settle_ms: u64,
    /// Events of one job a subscriber may fall behind before its stream ends.
    #[arg(long, default_value_t = 256)]
    pub stream_buffer: usize,
}

impl DaemonArgs {
    /// The daemon options these flags describe, keeping data under `data`.
    pub fn options(&self, data: &std::path::Path) -> crate::node::DaemonOptions {
        let mut config = crate::pipeline::DaemonConfig::new(data);
        if let Some(n) = self.job_threads {
            config.job_threads = n;
        }
        config.budget_bytes = self.decode_budget_bytes;
        config.run_memory_bytes = self.run_memory_bytes;
        config.results_retention_secs = self.results_retention_secs;
        config.lanes.pause_behind = Duration::from_secs(self.pause_behind_secs.max(1));
        config.quotas = crate::pipeline::QuotaConfig {
            bytes_per_sec: self.job_results_bytes_per_sec,
            stored_bytes: self.job_results_stored_bytes,
        };
        if self.no_cgroups {
            config.cgroups = None;
        }
        config.streams.settle = Duration::from_millis(self.stream_settle_ms);
        config.streams.buffer = self.stream_buffer;
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
    /// Send a batch again, with its Idempotency-Key, this many times at most
    /// when it got no answer, a 5xx or a 409 (high-level path).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
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
            retries: self.retries,
            record: self.record.clone(),
            token: self.token.clone(),
        }
    }
}

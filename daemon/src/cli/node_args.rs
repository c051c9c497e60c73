//! The flags that run a node (`serve`, `store`, `daemon`) and the load
//! generator (`gen`), and the settings they make.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use epochd_store::StoreConfig;

use crate::traffic::gen::{GenOptions, IngestPath};

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

/// Cluster mode (docs/CLUSTER.md): join a cluster through etcd.
#[derive(Debug, Args)]
#[command(next_help_heading = "Cluster")]
pub struct ClusterArgs {
    /// etcd's client URLs, comma-separated: the node joins the cluster there.
    /// Without it the node runs alone.
    #[arg(long, env = "EPOCHD_CLUSTER", value_delimiter = ',')]
    pub cluster: Vec<String>,
    /// The cluster's name (its keys live under /epochd/NAME/ in etcd).
    #[arg(long, env = "EPOCHD_CLUSTER_NAME", default_value = "epochd")]
    pub cluster_name: String,
    /// This node's id in the cluster, unique in it (letters, digits, '-', '_', '.').
    #[arg(long, env = "EPOCHD_NODE_ID")]
    pub node_id: Option<String>,
    /// The URL other nodes and the gateway reach this node's API at.
    /// Default: http:// and the address it listens on.
    #[arg(long)]
    pub advertise_url: Option<String>,
    /// The time to live of the node's lease in etcd, seconds: a node that
    /// stops renewing drops out after it.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub cluster_lease_secs: u64,
    /// How long the gateway waits for an epoch's last nodes once one has
    /// closed it, milliseconds, before it emits the epoch partial
    /// (docs/CLUSTER.md, "The gateway's contract"). Default: each job's
    /// deadline plus 2 s.
    #[arg(long, env = "EPOCHD_GATEWAY_WAIT_MS")]
    pub gateway_wait_ms: Option<u64>,
    /// How far ahead a job's submission, pause, resume or deletion takes
    /// effect, seconds: from the epoch now + this, on every node.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub cluster_job_lead_secs: u64,
}

impl ClusterArgs {
    /// The cluster to join, if any; checked before anything starts.
    pub fn join(&self, listen: SocketAddr) -> anyhow::Result<Option<crate::node::ClusterJoin>> {
        if self.cluster.is_empty() {
            return Ok(None);
        }
        let node_id = self.node_id.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "--cluster needs --node-id: a name for this node, unique in the cluster"
            )
        })?;
        let url = self
            .advertise_url
            .clone()
            .unwrap_or_else(|| format!("http://{listen}"));
        let mut config = epochd_cluster::MembershipConfig::new(
            self.cluster.clone(),
            &self.cluster_name,
            node_id,
            &url,
        )
        .map_err(anyhow::Error::msg)?;
        config.ttl = Duration::from_secs(self.cluster_lease_secs);
        Ok(Some(crate::node::ClusterJoin {
            config,
            url_from_listen: self.advertise_url.is_none(),
            job_lead_secs: self.cluster_job_lead_secs,
            gateway_wait: self.gateway_wait_ms.map(Duration::from_millis),
        }))
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
    pub fn limits(&self) -> crate::api::connections::HttpLimits {
        let fd_limit = crate::api::connections::raise_fd_limit();
        let cap = crate::api::connections::connection_cap(self.max_connections, fd_limit);
        if cap < self.max_connections {
            tracing::info!(
                configured = self.max_connections,
                cap,
                fd_limit,
                "connection cap lowered to leave file descriptors for the node"
            );
        }
        crate::api::connections::HttpLimits {
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
    /// Decode each commit once per job instead of once for all (the
    /// MapReduce way, for the cluster benchmark's comparison; never
    /// faster).
    #[arg(long, hide = true)]
    pub decode_per_job: bool,
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
        config.decode_per_job = self.decode_per_job;
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

//! The emulated cluster: etcd in the root namespace on the cluster bridge,
//! and N `epochd serve --cluster` nodes, each in its own network namespace
//! (a cluster-facing and a client-facing interface) and its own cgroup.
//! A node can be killed (`kill -9`) and restarted on its data, and its
//! cluster link taken down and up.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use epochd_bench::cluster::cgroup::NodeCgroup;
use epochd_bench::cluster::netns::{IfaceCounters, Topology};

/// Interface names start with this (`netns::Topology`).
const PREFIX: &str = "ebh";
/// The cluster bridge (`{PREFIX}cl`), where etcd listens.
const BRIDGE: &str = "ebhcl";

/// The nodes' etcd lease, seconds.
const LEASE_SECS: u64 = 3;

/// The port every node listens on, in its own namespace.
pub const NODE_PORT: u16 = 8790;
const ETCD_PORT: u16 = 2379;

/// The token every node and the harness share (nodes not on loopback need one).
pub const TOKEN: &str = "epochd-bench-cluster-token";

/// How a cluster is started.
pub struct Spec {
    /// The epochd binary.
    pub epochd: PathBuf,
    /// Nodes.
    pub nodes: usize,
    /// `--decode-per-job` on every node (the MapReduce way).
    pub decode_per_job: bool,
    /// A CPU cap per node, in cores.
    pub cpu_cores: Option<f64>,
    /// Where data and logs go.
    pub dir: PathBuf,
    /// The run's name (its cgroups are named after it).
    pub run: String,
}

/// One node: its process while it runs, its cgroup, its data.
pub struct NodeProc {
    /// `n0`, `n1`, ...
    pub id: String,
    /// Its API as the harness reaches it (client-facing interface).
    pub url: String,
    child: Option<Child>,
    /// Its process id while it runs.
    pub pid: Option<u32>,
    /// Its cgroup.
    pub cgroup: NodeCgroup,
    log: PathBuf,
    args: Vec<OsString>,
    prefix: Vec<OsString>,
    /// Peak RSS over the node's earlier lives (a restart starts a new one).
    pub earlier_peak_rss: u64,
}

/// etcd, the namespaces and the nodes. Dropped in that order's reverse.
pub struct Emulated {
    /// The nodes, by index.
    pub nodes: Vec<NodeProc>,
    etcd: Child,
    /// The namespaces and links (dropped last).
    pub topology: Topology,
}

impl Emulated {
    /// Starts etcd and every node, and waits until each has joined.
    pub fn start(spec: &Spec) -> Result<Emulated> {
        // Stale namespaces of a run killed hard go first (Topology::create).
        let topology = Topology::create(PREFIX, 230, spec.nodes)
            .context("creating the network namespaces (run as root)")?;
        let etcd = start_etcd(topology.host_cluster_ip(), &spec.dir)?;
        let endpoint = format!("http://{}:{ETCD_PORT}", topology.host_cluster_ip());
        let mut nodes = Vec::new();
        for i in 0..spec.nodes {
            let id = format!("n{i}");
            let cgroup =
                NodeCgroup::create(&format!("epochd-bench/{}/{id}", spec.run), spec.cpu_cores)?;
            let data = spec.dir.join(&id);
            std::fs::create_dir_all(&data)?;
            let mut args: Vec<OsString> = [
                "serve".to_owned(),
                "--listen".into(),
                format!("0.0.0.0:{NODE_PORT}"),
                "--advertise-url".into(),
                format!("http://{}:{NODE_PORT}", topology.cluster_ip(i)),
                "--admin-token".into(),
                TOKEN.into(),
                "--cluster".into(),
                endpoint.clone(),
                "--cluster-name".into(),
                "bench".into(),
                "--node-id".into(),
                id.clone(),
                // A killed node's registration lapses after this; its
                // restart is refused until then.
                "--cluster-lease-secs".into(),
                LEASE_SECS.to_string(),
                "--data".into(),
            ]
            .into_iter()
            .map(OsString::from)
            .collect();
            args.push(data.join("data").into());
            if spec.decode_per_job {
                args.push("--decode-per-job".into());
            }
            let mut prefix = topology.command_prefix(i, Some(&cgroup));
            prefix.push(spec.epochd.clone().into());
            nodes.push(NodeProc {
                url: format!("http://{}:{NODE_PORT}", topology.client_ip(i)),
                id,
                child: None,
                pid: None,
                cgroup,
                log: data.join("epochd.log"),
                args,
                prefix,
                earlier_peak_rss: 0,
            });
        }
        let mut cluster = Emulated {
            nodes,
            etcd,
            topology,
        };
        for node in &mut cluster.nodes {
            node.launch()?;
        }
        Ok(cluster)
    }

    /// Interface counters of node `i`, seen from the node.
    pub fn counters(&self, i: usize) -> Result<IfaceCounters> {
        self.topology.counters(i)
    }

    /// Bytes etcd (the root namespace, on the cluster bridge) sent to the
    /// nodes and received from them: (tx, rx).
    pub fn etcd_bytes(&self) -> (u64, u64) {
        let read = |what: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{BRIDGE}/statistics/{what}"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0)
        };
        (read("tx_bytes"), read("rx_bytes"))
    }
}

impl Drop for Emulated {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
    }
}

impl NodeProc {
    /// Starts the node (again, on the same data) and waits for it to listen.
    pub fn launch(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut child = Command::new(&self.prefix[0])
            .args(&self.prefix[1..])
            .args(&self.args)
            .env("EPOCHD_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting node {}", self.id))?;
        let first = epochd_bench::node::first_line(&mut child)?;
        let line = first
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        self.pid = Some(child.id());
        self.child = Some(child);
        if !line.contains("listening on") {
            bail!(
                "node {} did not start (first line {line:?}); its log ends with:\n{}",
                self.id,
                self.log_tail(20)
            );
        }
        Ok(())
    }

    /// Starts the node again on its data after a kill: while its old
    /// registration has not lapsed it refuses to join and exits, so it is
    /// tried again each second, for twice the lease at most.
    pub fn restart(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2 * LEASE_SECS + 5);
        loop {
            self.launch()?;
            std::thread::sleep(Duration::from_millis(1500));
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            if !exited {
                return Ok(());
            }
            self.child = None;
            self.pid = None;
            if Instant::now() > deadline {
                bail!(
                    "node {} did not come back; its log ends with:\n{}",
                    self.id,
                    self.log_tail(10)
                );
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// `kill -9` (its peak RSS is kept first).
    pub fn kill(&mut self) {
        self.earlier_peak_rss = self.earlier_peak_rss.max(self.peak_rss_now());
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.pid = None;
    }

    /// Peak resident memory of the running process, bytes.
    pub fn peak_rss_now(&self) -> u64 {
        self.pid
            .and_then(epochd_bench::procfs::memory)
            .map_or(0, |(_, peak)| peak)
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// etcd on the cluster bridge's host address, its data under `dir`.
fn start_etcd(ip: Ipv4Addr, dir: &Path) -> Result<Child> {
    let client = format!("http://{ip}:{ETCD_PORT}");
    let peer = format!("http://{ip}:2380");
    let log = std::fs::File::create(dir.join("etcd.log"))?;
    let child = Command::new("etcd")
        .args(["--name", "bench", "--data-dir"])
        .arg(dir.join("etcd"))
        .args(["--listen-client-urls", &client])
        .args(["--advertise-client-urls", &client])
        .args(["--listen-peer-urls", &peer])
        .args(["--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("bench={peer}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting etcd (Debian's etcd-server; bench/cluster installs it)")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect((ip, ETCD_PORT)).is_err() {
        if Instant::now() > deadline {
            bail!("etcd did not answer on {client} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(child)
}

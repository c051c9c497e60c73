//! The emulated cluster's network: one network namespace per node, each with two veth
//! pairs to two bridges in the root namespace, so that a node's traffic to the other
//! nodes and to etcd (the cluster link) and its traffic to the load generator,
//! subscribers and external consumers (the client link, all of which run in the root
//! namespace) pass through interfaces of their own, whose byte counters are the
//! benchmark's "bytes between nodes" and "bytes out of the cluster".
//!
//! ```text
//!   root namespace                                  node i's namespace ({prefix}n{i})
//!   {prefix}cl  10.{net}.1.1/24 (etcd) ── {prefix}{i}l ══ cl0  10.{net}.1.{10+i}/24
//!   {prefix}cx  10.{net}.2.1/24 (clients) ─ {prefix}{i}x ══ cx0  10.{net}.2.{10+i}/24
//! ```
//!
//! Every address a node talks to is on the same /24 as one of its interfaces, so
//! nothing is routed: no IP forwarding, no default route (a node that tries to reach
//! anything else gets "network unreachable" at once). Clients in the root namespace
//! must use [`Topology::client_ip`]: the root namespace reaches a node's cluster IP
//! too, but that traffic would be counted on the cluster link.
//!
//! The bridges forward frames inside the root namespace. If `br_netfilter` is loaded and
//! `/proc/sys/net/bridge/bridge-nf-call-iptables` is 1, bridged frames also pass the root
//! namespace's iptables FORWARD chain, and a DROP policy there (Docker sets one) cuts
//! node-to-node traffic. That setting is host-wide, so this module leaves it alone; on a
//! host with such rules, allow the bridges (iptables -I FORWARD -i {prefix}cl -j ACCEPT)
//! or set it to 0 for the run.
//!
//! Commands run in a node's namespace through `nsenter --net=/var/run/netns/<ns>`, not
//! `ip netns exec`: the latter also enters a new mount namespace and remounts `/sys`,
//! which hides `/sys/fs/cgroup` from the node, so neither the cgroup join nor epochd's
//! own job cgroups ([`super::cgroup`]) would work.

use std::ffi::OsString;
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::cgroup::NodeCgroup;

/// Where `ip netns add` puts the namespaces' bind mounts (iproute2's `NETNS_RUN_DIR`).
const NETNS_DIR: &str = "/var/run/netns";
/// MTU of every veth and bridge: the largest there is. Bytes on the links are the
/// benchmark's figure, and with a large MTU the kernel sends large segments, so each TCP
/// acknowledgement (a fixed-size frame, about one per segment or two) covers many bytes
/// and acknowledgements stay a small share of the count, as on a real network with
/// offloads rather than one frame per 1500 bytes.
const MTU: &str = "65535";
/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;
/// The third octet of the cluster subnet.
const CLUSTER_NET: u8 = 1;
/// The third octet of the client subnet.
const CLIENT_NET: u8 = 2;
/// Node i's address is `.{FIRST_HOST + i}`, leaving the low ones for the root namespace.
const FIRST_HOST: usize = 10;
/// Most nodes one topology holds (the last octet runs out).
pub const MAX_NODES: usize = 254 - FIRST_HOST;
/// The cluster-facing interface inside each namespace.
pub const NODE_CLUSTER_IF: &str = "cl0";
/// The client-facing interface inside each namespace.
pub const NODE_CLIENT_IF: &str = "cx0";

/// Bytes through a node's two interfaces, seen from the node (`tx`: bytes the node
/// sent). Counted as the kernel counts a veth's bytes: whole Ethernet frames (headers
/// included, no FCS or preamble), ARP included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceCounters {
    /// Bytes the node sent toward clients (the load generator, subscribers, consumers).
    pub client_tx: u64,
    /// Bytes the node received from clients.
    pub client_rx: u64,
    /// Bytes the node sent toward the other nodes and etcd.
    pub cluster_tx: u64,
    /// Bytes the node received from the other nodes and etcd.
    pub cluster_rx: u64,
}

impl IfaceCounters {
    /// What was counted since `earlier` (each field saturates at 0, so a counter that
    /// went backwards, an interface made again, reads as nothing rather than wrapping).
    pub fn since(&self, earlier: &IfaceCounters) -> IfaceCounters {
        IfaceCounters {
            client_tx: self.client_tx.saturating_sub(earlier.client_tx),
            client_rx: self.client_rx.saturating_sub(earlier.client_rx),
            cluster_tx: self.cluster_tx.saturating_sub(earlier.cluster_tx),
            cluster_rx: self.cluster_rx.saturating_sub(earlier.cluster_rx),
        }
    }
}

/// The namespaces, bridges and veth pairs of one emulated cluster. Dropping it tears
/// them all down (best effort, never panics); a node process still running in a
/// namespace then finds itself with no links.
#[derive(Debug)]
pub struct Topology {
    /// Prefix of every name this made.
    prefix: String,
    /// Second octet of the addresses.
    net: u8,
    /// The namespaces, by node.
    namespaces: Vec<String>,
}

impl Topology {
    /// Creates `nodes` namespaces named `{prefix}n{i}`, two bridges in the root namespace,
    /// `{prefix}cl` (cluster, 10.{net}.1.1/24) and `{prefix}cx` (clients, 10.{net}.2.1/24),
    /// and per node two veth pairs: inside the namespace `cl0` (10.{net}.1.{10+i}/24) and
    /// `cx0` (10.{net}.2.{10+i}/24), with `lo` up; the root-side ends `{prefix}{i}l` and
    /// `{prefix}{i}x` attached to the bridges. MTU 65535 on all veths and bridges. IPv6
    /// addresses are not generated on them, so no neighbour discovery adds to the counts.
    ///
    /// Leftovers of the same prefix (a previous run killed hard) are removed first, so a
    /// prefix must not be shared by two runs at once; and the two subnets must be free in
    /// the root namespace: use another `net` for runs side by side (the tests use 231 and
    /// up, the harness 230). `prefix`: lowercase letters and digits, starting and ending
    /// with a letter (so `{prefix}{i}l` is never another prefix's name), short enough
    /// that `{prefix}{nodes-1}l` fits 15 characters, e.g. `ebh`.
    pub fn create(prefix: &str, net: u8, nodes: usize) -> Result<Topology> {
        validate(prefix, nodes)?;
        check_tools()?;
        remove_leftovers(prefix);
        check_subnets_free(net)?;
        let topology = Topology {
            prefix: prefix.to_string(),
            net,
            namespaces: (0..nodes).map(|i| format!("{prefix}n{i}")).collect(),
        };
        // On an error, `topology` is dropped here, which removes what was made.
        topology.build().with_context(|| {
            format!(
                "cannot set up the network of {nodes} emulated nodes ({prefix}*, 10.{net}.{CLUSTER_NET}.0/24 and 10.{net}.{CLIENT_NET}.0/24); the harness must run as root (CAP_NET_ADMIN, CAP_SYS_ADMIN) with iproute2, veth and bridge support"
            )
        })?;
        Ok(topology)
    }

    /// How many nodes it has.
    pub fn nodes(&self) -> usize {
        self.namespaces.len()
    }

    /// The name of node `node`'s namespace (`ip netns` lists it; panics if out of range).
    pub fn namespace(&self, node: usize) -> &str {
        &self.namespaces[node]
    }

    /// Node `node`'s address on the cluster subnet, 10.{net}.1.{10+node}: where the other
    /// nodes reach it.
    pub fn cluster_ip(&self, node: usize) -> Ipv4Addr {
        self.node_ip(node, CLUSTER_NET)
    }

    /// Node `node`'s address on the client subnet, 10.{net}.2.{10+node}: where clients in
    /// the root namespace reach it.
    pub fn client_ip(&self, node: usize) -> Ipv4Addr {
        self.node_ip(node, CLIENT_NET)
    }

    /// The root namespace's address on the cluster subnet, 10.{net}.1.1: where etcd
    /// listens, so the nodes' etcd traffic is counted on their cluster links.
    pub fn host_cluster_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net, CLUSTER_NET, 1)
    }

    /// The root namespace's address on the client subnet, 10.{net}.2.1: the clients'
    /// source address, and where a node reaches something served by the harness.
    pub fn host_client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.net, CLIENT_NET, 1)
    }

    /// The counters of node `node`'s two interfaces, seen from the node. Read from the
    /// root-side veth ends' `/sys/class/net/<if>/statistics` (what the root end
    /// transmitted the node received), so no namespace needs entering.
    pub fn counters(&self, node: usize) -> Result<IfaceCounters> {
        let read = |iface: &str, stat: &str| -> Result<u64> {
            let file = format!("/sys/class/net/{iface}/statistics/{stat}");
            let text = fs::read_to_string(&file).with_context(|| {
                format!(
                    "cannot read {file}, a counter of node {node}; was the topology removed (ip link show {iface})?"
                )
            })?;
            text.trim()
                .parse()
                .with_context(|| format!("{file} holds {text:?}, not a number"))
        };
        let (cluster, client) = (self.root_cluster_if(node), self.root_client_if(node));
        Ok(IfaceCounters {
            client_tx: read(&client, "rx_bytes")?,
            client_rx: read(&client, "tx_bytes")?,
            cluster_tx: read(&cluster, "rx_bytes")?,
            cluster_rx: read(&cluster, "tx_bytes")?,
        })
    }

    /// Brings node `node`'s cluster-facing link up (`up`) or takes it down (`!up`), at
    /// the root-side end: the node's `cl0` then has no carrier, so it can reach neither
    /// the other nodes nor etcd, while clients still reach it.
    pub fn set_cluster_link(&self, node: usize, up: bool) -> Result<()> {
        let iface = self.root_cluster_if(node);
        ip(&["link", "set", "dev", &iface, if up { "up" } else { "down" }]).with_context(|| {
            format!(
                "cannot take node {node}'s cluster link {iface} {}",
                if up { "up" } else { "down" }
            )
        })
    }

    /// The argv prefix that runs a program inside node `node`'s namespace, first moving
    /// itself into `cg` when given, so that the program and all its threads and children
    /// (epochd's job cgroups too) are accounted there:
    /// `nsenter --net=/var/run/netns/<ns> -- [/bin/sh -c <join> sh <procs files>]`.
    /// `Command::new(&p[0]).args(&p[1..]).arg(program).args(args)` runs `program` with
    /// `args` as given (no shell quoting involved) and with the pid of the spawned child,
    /// as nsenter and sh both exec. If joining the cgroup fails, the program does not run
    /// and the exit status is 126. Panics if `node` is out of range.
    pub fn command_prefix(&self, node: usize, cg: Option<&NodeCgroup>) -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![
            tool("nsenter").into(),
            format!("--net={NETNS_DIR}/{}", self.namespaces[node]).into(),
            "--".into(),
        ];
        if let Some(cg) = cg {
            argv.extend(cg.join_prefix());
        }
        argv
    }

    /// Node `node`'s address on subnet `subnet`.
    fn node_ip(&self, node: usize, subnet: u8) -> Ipv4Addr {
        assert!(node < self.nodes(), "node {node} of {}", self.nodes());
        Ipv4Addr::new(10, self.net, subnet, (FIRST_HOST + node) as u8)
    }

    /// The root-side end of node `node`'s cluster veth pair.
    fn root_cluster_if(&self, node: usize) -> String {
        assert!(node < self.nodes(), "node {node} of {}", self.nodes());
        format!("{}{node}l", self.prefix)
    }

    /// The root-side end of node `node`'s client veth pair.
    fn root_client_if(&self, node: usize) -> String {
        assert!(node < self.nodes(), "node {node} of {}", self.nodes());
        format!("{}{node}x", self.prefix)
    }

    /// Makes the bridges, then each node's namespace and links.
    fn build(&self) -> Result<()> {
        let p = &self.prefix;
        let bridges = [
            (format!("{p}cl"), CLUSTER_NET),
            (format!("{p}cx"), CLIENT_NET),
        ];
        for (bridge, subnet) in &bridges {
            ip(&["link", "add", bridge, "mtu", MTU, "type", "bridge"])?;
            no_ipv6_addresses(None, bridge);
            let addr = format!("10.{}.{subnet}.1/24", self.net);
            ip(&["addr", "add", &addr, "dev", bridge])?;
            ip(&["link", "set", "dev", bridge, "up"])?;
        }
        for (node, ns) in self.namespaces.iter().enumerate() {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
            let links = [
                (self.root_cluster_if(node), NODE_CLUSTER_IF, &bridges[0].0),
                (self.root_client_if(node), NODE_CLIENT_IF, &bridges[1].0),
            ];
            for (root_end, node_end, bridge) in &links {
                // The node's end is made inside its namespace, under its final name.
                ip(&[
                    "link", "add", root_end, "mtu", MTU, "type", "veth", "peer", "name", node_end,
                    "mtu", MTU, "netns", ns,
                ])?;
                no_ipv6_addresses(None, root_end);
                no_ipv6_addresses(Some(ns), node_end);
                ip(&["link", "set", "dev", root_end, "master", bridge, "up"])?;
            }
            for (iface, ip_addr) in [
                (NODE_CLUSTER_IF, self.cluster_ip(node)),
                (NODE_CLIENT_IF, self.client_ip(node)),
            ] {
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{ip_addr}/24"),
                    "dev",
                    iface,
                ])?;
                ip(&["-n", ns, "link", "set", "dev", iface, "up"])?;
            }
        }
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        remove_leftovers(&self.prefix);
    }
}

/// Checks the prefix and node count (see [`Topology::create`]).
fn validate(prefix: &str, nodes: usize) -> Result<()> {
    let chars_ok = prefix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ends_ok = prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix.ends_with(|c: char| c.is_ascii_lowercase());
    if !(chars_ok && ends_ok) {
        bail!(
            "namespace prefix {prefix:?} must be lowercase letters and digits, starting and ending with a letter (e.g. ebh)"
        );
    }
    if nodes == 0 || nodes > MAX_NODES {
        bail!("a topology has 1 to {MAX_NODES} nodes, not {nodes}");
    }
    let longest = format!("{prefix}{}l", nodes - 1);
    if longest.len() > MAX_IFNAME {
        bail!(
            "interface name {longest} is longer than the kernel's {MAX_IFNAME} characters; use a shorter prefix than {prefix:?}"
        );
    }
    Ok(())
}

/// Fails early, with what to install, when `ip` or `nsenter` cannot run.
fn check_tools() -> Result<()> {
    for (name, arg, package) in [
        ("ip", "-V", "iproute2"),
        ("nsenter", "--version", "util-linux"),
    ] {
        let bin = tool(name);
        let ok = Command::new(bin)
            .arg(arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            bail!("cannot run `{bin} {arg}`: the cluster harness needs {name}; install {package} (apt-get install {package})");
        }
    }
    Ok(())
}

/// Where a system tool is: root's sbin directories may be missing from `PATH` (sudo, a
/// cron job), so the usual places are tried before `PATH`.
fn tool(name: &str) -> &'static str {
    let places: &[&'static str] = match name {
        "ip" => &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip", "ip"],
        _ => &[
            "/usr/bin/nsenter",
            "/bin/nsenter",
            "/usr/sbin/nsenter",
            "nsenter",
        ],
    };
    places
        .iter()
        .copied()
        .find(|p| Path::new(p).is_file())
        .unwrap_or(places[places.len() - 1])
}

/// Runs `ip args`, failing with its stderr.
fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new(tool("ip"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `ip {}` (install iproute2)", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Runs `ip args`, ignoring failure (teardown, and settings that are nice to have).
fn ip_quiet(args: &[&str]) {
    let _ = Command::new(tool("ip"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops the kernel giving `iface` IPv6 link-local addresses, whose neighbour discovery
/// and multicast reports would otherwise add to the byte counts. Best effort: a kernel
/// without IPv6 has nothing to stop. Must run before the link is up.
fn no_ipv6_addresses(ns: Option<&str>, iface: &str) {
    let mut args = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["link", "set", "dev", iface, "addrgenmode", "none"]);
    ip_quiet(&args);
}

/// Removes everything a topology with `prefix` makes: root-side veths (each takes its
/// node-side peer with it), bridges, namespaces. Best effort, silent.
fn remove_leftovers(prefix: &str) {
    let names = |dir: &str| -> Vec<String> {
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let is_index = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut links: Vec<String> = names("/sys/class/net")
        .into_iter()
        .filter(|name| {
            name.strip_prefix(prefix).is_some_and(|rest| {
                rest.strip_suffix(['l', 'x']).is_some_and(is_index) || rest == "cl" || rest == "cx"
            })
        })
        .collect();
    // Veths before bridges, so no port is left dangling for a moment.
    links.sort_by_key(|name| name.ends_with("cl") || name.ends_with("cx"));
    for link in &links {
        ip_quiet(&["link", "del", "dev", link]);
    }
    for ns in names(NETNS_DIR) {
        if ns
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('n'))
            .is_some_and(is_index)
        {
            ip_quiet(&["netns", "del", &ns]);
        }
    }
}

/// Fails if an address in the root namespace overlaps either subnet of `net`: two
/// topologies on one subnet would route each other's traffic.
fn check_subnets_free(net: u8) -> Result<()> {
    let out = Command::new(tool("ip"))
        .args(["-4", "-o", "addr", "show"])
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ip -4 -o addr show` (install iproute2)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        // "3: eth0    inet 10.0.0.2/24 brd 10.0.0.255 scope global eth0\ ..."
        let mut words = line.split_whitespace();
        let iface = words.nth(1).unwrap_or("?");
        let Some(cidr) = words.skip_while(|w| *w != "inet").nth(1) else {
            continue;
        };
        let Some((addr, len)) = cidr.split_once('/') else {
            continue;
        };
        let (Ok(addr), Ok(len)) = (addr.parse::<Ipv4Addr>(), len.parse::<u8>()) else {
            continue;
        };
        for subnet in [CLUSTER_NET, CLIENT_NET] {
            if overlaps(addr, len, Ipv4Addr::new(10, net, subnet, 0), 24) {
                bail!(
                    "10.{net}.{subnet}.0/24 is already in use in the root namespace ({cidr} on {iface}): another harness or test is using net {net}, or one was killed and left it; pick another net, or remove it (ip link del {iface})"
                );
            }
        }
    }
    Ok(())
}

/// Whether `a/alen` and `b/blen` share an address.
fn overlaps(a: Ipv4Addr, alen: u8, b: Ipv4Addr, blen: u8) -> bool {
    let len = u32::from(alen.min(blen).min(32));
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::fs::MetadataExt;
    use std::process::{Child, Output};
    use std::time::{Duration, Instant};

    /// A prefix no other test process is likely to use at the same time, ending in a
    /// letter as [`validate`] wants.
    fn prefix(test: char) -> String {
        let pid = std::process::id();
        let letter = |n: u32| char::from(b'a' + (n % 26) as u8);
        format!("et{}{}{test}", letter(pid), letter(pid / 26))
    }

    /// `program args` in node `node`'s namespace (and cgroup), as the harness runs it.
    fn in_node(topo: &Topology, node: usize, cg: Option<&NodeCgroup>, argv: &[&str]) -> Command {
        let prefix = topo.command_prefix(node, cg);
        let mut cmd = Command::new(&prefix[0]);
        cmd.args(&prefix[1..]).args(argv);
        cmd
    }

    /// Runs bash in node `node`'s namespace, for at most `secs` seconds.
    fn bash_in(topo: &Topology, node: usize, secs: u32, script: &str) -> Output {
        in_node(
            topo,
            node,
            None,
            &["timeout", &secs.to_string(), "bash", "-c", script],
        )
        .output()
        .expect("run bash in the namespace")
    }

    /// Sends `bytes` zero bytes from node `node`'s namespace to `to` over TCP (bash's
    /// /dev/tcp), closing the connection after.
    fn send(topo: &Topology, node: usize, to: (Ipv4Addr, u16), bytes: usize, secs: u32) -> Output {
        let script = format!(
            "exec 3<>/dev/tcp/{}/{}; head -c {bytes} /dev/zero >&3",
            to.0, to.1
        );
        bash_in(topo, node, secs, &script)
    }

    /// Accepts one connection within 10 s and reads it to its end.
    fn accept_all(listener: &TcpListener) -> usize {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut stream, _): (TcpStream, _) = loop {
            match listener.accept() {
                Ok(conn) => break conn,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no connection within 10 s");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).unwrap();
        buf.len()
    }

    /// A TCP server in node `node`'s namespace on `ip`: prints its port, then the bytes
    /// of each of `conns` connections, and exits (or is stopped after 30 s).
    fn server_in(topo: &Topology, node: usize, ip: Ipv4Addr, conns: u32) -> (Child, u16) {
        const SERVER: &str = "
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
for _ in range(int(sys.argv[2])):
    c, _ = s.accept()
    n = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        n += len(b)
    c.close()
    print(n, flush=True)
";
        let mut child = in_node(
            topo,
            node,
            None,
            &[
                "timeout",
                "30",
                "python3",
                "-c",
                SERVER,
                &ip.to_string(),
                &conns.to_string(),
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3 in the namespace");
        let port = read_line(&mut child).parse().expect("port");
        (child, port)
    }

    /// The next line the child printed.
    fn read_line(child: &mut Child) -> String {
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Lines are read one at a time, so nothing else is buffered yet.
        assert!(reader.buffer().is_empty());
        child.stdout = Some(reader.into_inner());
        line.trim().to_string()
    }

    #[test]
    fn two_nodes_count_bytes_cut_links_and_go_away() {
        let topo = Topology::create(&prefix('a'), 231, 2).unwrap();
        assert_eq!(topo.nodes(), 2);
        assert_eq!(topo.cluster_ip(1), Ipv4Addr::new(10, 231, 1, 11));
        assert_eq!(topo.client_ip(0), Ipv4Addr::new(10, 231, 2, 10));
        assert_eq!(topo.host_cluster_ip(), Ipv4Addr::new(10, 231, 1, 1));
        assert_eq!(topo.host_client_ip(), Ipv4Addr::new(10, 231, 2, 1));

        // Node 0 → a client in the root namespace: counted on node 0's client link only.
        let (start0, start1) = (topo.counters(0).unwrap(), topo.counters(1).unwrap());
        let listener = TcpListener::bind((topo.host_client_ip(), 0)).unwrap();
        let to = (topo.host_client_ip(), listener.local_addr().unwrap().port());
        let sender = std::thread::scope(|s| {
            let sender = s.spawn(|| send(&topo, 0, to, 200_000, 10));
            assert_eq!(accept_all(&listener), 200_000);
            sender.join().unwrap()
        });
        assert!(sender.status.success(), "{sender:?}");
        let d0 = topo.counters(0).unwrap().since(&start0);
        let d1 = topo.counters(1).unwrap().since(&start1);
        assert!(d0.client_tx >= 200_000, "{d0:?}");
        assert!(d0.client_rx > 0 && d0.client_rx < 50_000, "{d0:?}");
        assert!(d0.cluster_tx + d0.cluster_rx < 4_000, "{d0:?}");
        let d1_total = d1.client_tx + d1.client_rx + d1.cluster_tx + d1.cluster_rx;
        assert!(d1_total < 4_000, "{d1:?}");

        // Node 0 → node 1 over the cluster subnet.
        let (start0, start1) = (topo.counters(0).unwrap(), topo.counters(1).unwrap());
        let (mut server, port) = server_in(&topo, 1, topo.cluster_ip(1), 2);
        let to = (topo.cluster_ip(1), port);
        let sent = send(&topo, 0, to, 300_000, 10);
        assert!(sent.status.success(), "{sent:?}");
        assert_eq!(read_line(&mut server), "300000");
        let d0 = topo.counters(0).unwrap().since(&start0);
        let d1 = topo.counters(1).unwrap().since(&start1);
        assert!(d0.cluster_tx >= 300_000, "{d0:?}");
        assert!(d1.cluster_rx >= 300_000, "{d1:?}");
        assert!(d0.client_tx + d1.client_rx < 4_000, "{d0:?} {d1:?}");

        // Node 1's cluster link down: node 0 cannot reach it; up again: it can.
        topo.set_cluster_link(1, false).unwrap();
        let cut = send(&topo, 0, to, 1_000, 3);
        assert!(!cut.status.success(), "{cut:?}");
        topo.set_cluster_link(1, true).unwrap();
        let sent = send(&topo, 0, to, 1_000, 15);
        assert!(sent.status.success(), "{sent:?}");
        assert_eq!(read_line(&mut server), "1000");
        assert!(server.wait().unwrap().success());

        // The prefix runs the program itself (same pid), in the namespace and the
        // cgroup, with its arguments untouched.
        let cg_name = format!("epochd-bench-test-{}-netns", std::process::id());
        let cg = NodeCgroup::create(&cg_name, None).unwrap();
        let child = in_node(
            &topo,
            0,
            Some(&cg),
            &[
                "/bin/sh",
                "-c",
                r#"echo $$; readlink /proc/self/ns/net; grep :cpu: /proc/self/cgroup; printf '%s|' "$@""#,
                "sh",
                "a b",
                "it's",
                "$HOME",
                "-n",
                "\"",
            ],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let ns_inode = fs::metadata(format!("{NETNS_DIR}/{}", topo.namespace(0)))
            .unwrap()
            .ino();
        assert_eq!(lines[0], pid.to_string(), "{text}");
        assert_eq!(lines[1], format!("net:[{ns_inode}]"), "{text}");
        assert!(lines[2].ends_with(&format!("/{cg_name}")), "{text}");
        assert_eq!(lines[3], "a b|it's|$HOME|-n|\"|", "{text}");
        drop(cg);

        // Dropping it removes everything.
        let namespaces: Vec<String> = (0..2).map(|i| topo.namespace(i).to_string()).collect();
        let bridge = format!("{}cl", topo.prefix);
        drop(topo);
        let listed = Command::new(tool("ip"))
            .args(["netns", "list"])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout);
        for ns in &namespaces {
            assert!(
                !listed.split_whitespace().any(|w| w == ns),
                "{ns} still listed: {listed}"
            );
        }
        assert!(!Path::new("/sys/class/net").join(bridge).exists());
    }

    #[test]
    fn leftovers_are_removed_and_subnets_not_shared() {
        let p = prefix('b');
        let first = Topology::create(&p, 232, 1).unwrap();
        let ns = first.namespace(0).to_string();
        // As if the run had been killed: nothing torn down.
        std::mem::forget(first);
        let again = Topology::create(&p, 232, 1).unwrap();
        assert!(Path::new(NETNS_DIR).join(&ns).exists());
        let clash = Topology::create(&prefix('c'), 232, 1).unwrap_err();
        assert!(format!("{clash:#}").contains("already in use"), "{clash:#}");
        drop(again);
        assert!(!Path::new(NETNS_DIR).join(&ns).exists());
        assert!(!Path::new("/sys/class/net").join(format!("{p}0l")).exists());
    }

    #[test]
    fn names_and_counters() {
        assert!(validate("ebh", 3).is_ok());
        for bad in ["", "1eb", "eb1", "Ebh", "e-b"] {
            assert!(validate(bad, 3).is_err(), "{bad:?}");
        }
        assert!(validate("ebh", 0).is_err());
        assert!(validate("ebh", MAX_NODES + 1).is_err());
        // The longest root-side name, `{prefix}{nodes-1}l`, must fit 15 characters.
        assert!(validate("abcdefghijklm", 10).is_ok());
        assert!(validate("abcdefghijklmn", 10).is_err());
        assert!(validate("abcdefghijkl", 100).is_ok());
        assert!(validate("abcdefghijkl", 101).is_err());

        let a = IfaceCounters {
            client_tx: 10,
            client_rx: 5,
            cluster_tx: 7,
            cluster_rx: 1,
        };
        let b = IfaceCounters {
            client_tx: 15,
            client_rx: 5,
            cluster_tx: 3,
            cluster_rx: 4,
        };
        assert_eq!(
            b.since(&a),
            IfaceCounters {
                client_tx: 5,
                client_rx: 0,
                cluster_tx: 0,
                cluster_rx: 3,
            }
        );

        let net = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(overlaps(net("10.230.1.1"), 24, net("10.230.1.0"), 24));
        assert!(overlaps(net("10.0.0.1"), 8, net("10.230.1.0"), 24));
        assert!(!overlaps(net("10.230.3.1"), 24, net("10.230.1.0"), 24));
        assert!(overlaps(net("1.2.3.4"), 0, net("10.230.1.0"), 24));
    }
}

//! Running `epochd` processes in tests.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `epochd` process; killed when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    /// Starts `epochd ARGS`, logging to `log`, and waits for its first stdout line.
    pub fn start(args: &[&str], log: &Path) -> (Proc, String) {
        Proc::start_under(&[], args, log)
    }

    /// [`Proc::start`] under a wrapper command (`wrapper` then the binary
    /// and `args`), e.g. `prlimit --nofile=1024:1024 --`.
    pub fn start_under(wrapper: &[&str], args: &[&str], log: &Path) -> (Proc, String) {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let binary = env!("CARGO_BIN_EXE_epochd");
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(args)
            // The tests read the daemon's `commit received` and `result` lines (debug).
            .env(
                "EPOCHD_LOG",
                "info,epochd::pipeline::fanout=debug,epochd::results::log=debug",
            )
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let proc = Proc { child };
        assert!(
            first.starts_with("epochd: "),
            "epochd {args:?} did not start: {first:?}; log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        (proc, first.trim().to_owned())
    }

    /// Starts a node (`serve` or `store`) and returns it with its base URL.
    /// Without tokens in `args`, it runs with `--no-auth` (on loopback).
    pub fn node(args: &[&str], log: &Path) -> (Proc, String) {
        Proc::node_under(&[], args, log)
    }

    /// [`Proc::node`] under a wrapper command (see [`Proc::start_under`]).
    pub fn node_under(wrapper: &[&str], args: &[&str], log: &Path) -> (Proc, String) {
        let mut args = args.to_vec();
        if !args
            .iter()
            .any(|a| *a == "--admin-token" || *a == "--no-auth")
        {
            args.push("--no-auth");
        }
        let (proc, line) = Proc::start_under(wrapper, &args, log);
        let url = line
            .strip_prefix("epochd: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        (proc, url)
    }

    /// Starts `epochd serve` keeping its data and log in `dir`, on a free
    /// loopback port, without CPU caps, with `extra` flags.
    pub fn serve(dir: &Path, extra: &[&str]) -> (Proc, String) {
        Proc::serve_under(&[], dir, extra)
    }

    /// [`Proc::serve`] as node `id` of cluster `cluster` on the etcd at
    /// `etcd`, with a 2 s lease (a killed node drops out soon), and `extra`.
    pub fn serve_in_cluster(
        dir: &Path,
        etcd: &str,
        cluster: &str,
        id: &str,
        extra: &[&str],
    ) -> (Proc, String) {
        let mut args = vec![
            "--cluster",
            etcd,
            "--cluster-name",
            cluster,
            "--node-id",
            id,
            "--cluster-lease-secs",
            "2",
        ];
        args.extend_from_slice(extra);
        Proc::serve(dir, &args)
    }

    /// [`Proc::serve`] under a wrapper command (see [`Proc::start_under`]).
    pub fn serve_under(wrapper: &[&str], dir: &Path, extra: &[&str]) -> (Proc, String) {
        let data = dir.join("data");
        let mut args = vec![
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--no-cgroups",
        ];
        args.extend_from_slice(extra);
        Proc::node_under(wrapper, &args, &dir.join("serve.log"))
    }

    /// Starts `epochd daemon` on the store's hook `socket`, reading commits
    /// from `store_url`, keeping its data in `data`, with `extra` flags.
    pub fn daemon(socket: &str, store_url: &str, data: &Path, extra: &[&str], log: &Path) -> Proc {
        Proc::daemon_with_url(socket, store_url, data, extra, log).0
    }

    /// [`Proc::daemon`], and the URL of the daemon's own API.
    pub fn daemon_with_url(
        socket: &str,
        store_url: &str,
        data: &Path,
        extra: &[&str],
        log: &Path,
    ) -> (Proc, String) {
        let mut args = vec![
            "daemon",
            "--hook-socket",
            socket,
            "--store-url",
            store_url,
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        if !args
            .iter()
            .any(|a| *a == "--admin-token" || *a == "--no-auth")
        {
            args.push("--no-auth");
        }
        let (daemon, line) = Proc::start(&args, log);
        let url = line
            .split("its API on ")
            .nth(1)
            .unwrap_or_else(|| panic!("no API address in {line:?}"))
            .trim()
            .to_owned();
        (daemon, url)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "epochd exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "epochd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `commit received` line of the daemon's log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Received {
    pub commit_id: u64,
    pub epoch: u64,
    pub dc: String,
    pub seq: u32,
    pub digest: String,
}

/// Every commit the daemon logged as received, in log order.
pub fn received(log: &Path) -> Vec<Received> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("commit received"))
        .map(|l| {
            let fields: BTreeMap<&str, &str> = l
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .collect();
            Received {
                commit_id: fields["commit_id"].parse().unwrap(),
                epoch: fields["epoch"].parse().unwrap(),
                dc: fields["dc"].to_owned(),
                seq: fields["seq"].parse().unwrap(),
                digest: fields["digest"].to_owned(),
            }
        })
        .collect()
}

/// Polls `check` every 50 ms until it holds or `secs` pass.
#[track_caller]
pub fn wait_until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A metric's value from `/metrics`.
pub fn metric(url: &str, name: &str) -> Option<f64> {
    let text = reqwest::blocking::get(format!("{url}/metrics"))
        .ok()?
        .text()
        .ok()?;
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// POSTs events with `?wait=commit` and returns the JSON answer; panics on a non-2xx.
pub fn post_committed(url: &str, body: Vec<u8>, content_type: &str) -> serde_json::Value {
    client()
        .post(format!("{url}/v1/events?wait=commit"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap()
}

/// GETs `url` and returns its JSON; panics on a non-2xx.
pub fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> T {
    client()
        .get(url)
        .send()
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .unwrap()
}

/// An HTTP client for tests.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Events per (epoch, dc), each as MessagePack bytes, sorted.
pub type EventsByEpochDc = BTreeMap<(u64, String), Vec<Vec<u8>>>;

/// The commits in the data dir and their events; the store is opened with the
/// library after the processes have stopped.
pub fn stored_events(data: &Path) -> (Vec<epochd_store::CommitSummary>, EventsByEpochDc) {
    let store = epochd_store::Store::open(epochd_store::StoreConfig {
        grace_ms: 3_600_000,
        ..epochd_store::StoreConfig::new(data)
    })
    .unwrap();
    let commits = store.commits(0, u64::MAX, None).unwrap();
    let mut out = EventsByEpochDc::new();
    for c in &commits {
        let key = epochd_store::ManifestKey {
            epoch: c.epoch,
            dc: c.dc.clone(),
            seq: c.seq,
        };
        let raw = store.commit_events(&key).unwrap().unwrap();
        let events = out.entry((c.epoch, c.dc.clone())).or_default();
        for e in epochd_store::split_events(&raw) {
            events.push(e.unwrap().to_vec());
        }
    }
    for events in out.values_mut() {
        events.sort();
    }
    (commits, out)
}

/// A module that logs two lines each run (`info`, then `error`), then traps
/// when `fail`, else returns without a result.
pub fn logging_module(fail: bool) -> Vec<u8> {
    let end = if fail { "unreachable" } else { "i32.const 0" };
    wat::parse_str(format!(
        r#"(module
             (import "epochd" "log" (func $log (param i32 i32 i32)))
             (memory (export "memory") 1)
             (data (i32.const 16) "hello from a job")
             (data (i32.const 64) "about to finish")
             (func (export "epochd_abi_version") (result i32) i32.const 1)
             (func (export "epochd_run") (result i32)
               (call $log (i32.const 2) (i32.const 16) (i32.const 16))
               (call $log (i32.const 0) (i32.const 64) (i32.const 15))
               {end}))"#
    ))
    .unwrap()
}

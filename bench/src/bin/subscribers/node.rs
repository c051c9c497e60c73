//! The node under test: a real `epochd serve` child process on loopback, with
//! its own data and jobs directories, and what `/proc` says about it.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// How to start the node.
pub struct NodeOptions<'a> {
    /// The release `epochd` binary.
    pub epochd: &'a Path,
    /// Where the reference jobs' `.wasm` files are.
    pub wasm_dir: &'a Path,
    /// The jobs to register (`NAME.wasm` of `wasm_dir`).
    pub jobs: &'a [String],
    /// Under which directory the node's temp dir goes.
    pub root: &'a Path,
    /// Demo events per second.
    pub rate: u32,
    /// `--stream-settle-ms`, when asked for (else the node's default).
    pub settle_ms: Option<u64>,
    /// `--no-cgroups`.
    pub no_cgroups: bool,
}

/// A running node; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Node {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its process id.
    pub pid: u32,
    log: PathBuf,
    // Last: removed after the child is gone.
    _dir: tempfile::TempDir,
}

/// The node's `--jobs-dir`, `--data` and log under a fresh temp dir.
fn prepare(options: &NodeOptions<'_>) -> Result<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> {
    let dir = tempfile::Builder::new()
        .prefix("epochd-bench-subscribers-")
        .tempdir_in(options.root)
        .with_context(|| format!("creating a temp dir in {}", options.root.display()))?;
    let data = dir.path().join("data");
    let jobs = dir.path().join("jobs");
    fs::create_dir_all(&jobs)?;
    for name in options.jobs {
        let from = options.wasm_dir.join(format!("{name}.wasm"));
        ensure!(
            from.is_file(),
            "{} is missing: build the reference jobs first with wasm-jobs/build (or point \
             --wasm-dir at them)",
            from.display()
        );
        fs::copy(&from, jobs.join(format!("{name}.wasm")))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    let log = dir.path().join("epochd.log");
    Ok((dir, data, jobs, log))
}

impl Node {
    /// Starts `epochd serve --no-auth --listen 127.0.0.1:0 --demo-rate RATE` and waits
    /// (at most 60 s) for its first stdout line, `epochd: listening on http://ADDR`.
    pub fn start(options: &NodeOptions<'_>) -> Result<Node> {
        ensure!(
            options.epochd.is_file(),
            "{} is missing: build it first with `cargo build --release -p epochd` (or pass \
             --epochd PATH / EPOCHD_BIN)",
            options.epochd.display()
        );
        let (dir, data, jobs, log) = prepare(options)?;
        let log_file = fs::File::create(&log)?;
        let mut command = Command::new(options.epochd);
        command
            // The late-commit count below reads the `commit received` lines (debug).
            .env("EPOCHD_LOG", "info,epochd::pipeline::fanout=debug")
            .arg("serve")
            .arg("--no-auth")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(&data)
            .arg("--jobs-dir")
            .arg(&jobs)
            .arg("--demo-rate")
            .arg(options.rate.to_string());
        if let Some(ms) = options.settle_ms {
            command.arg("--stream-settle-ms").arg(ms.to_string());
        }
        if options.no_cgroups {
            command.arg("--no-cgroups");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log_file)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", options.epochd.display()))?;
        let pid = child.id();
        // The first line tells the address; the rest of stdout is drained so the
        // node never blocks on a full pipe.
        let stdout = child.stdout.take().context("the node's stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("node-stdout".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let _ = tx.send(first);
                let mut sink = String::new();
                while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                    sink.clear();
                }
            })?;
        let mut node = Node {
            child,
            url: String::new(),
            pid,
            log,
            _dir: dir,
        };
        let first = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        match first.trim().strip_prefix("epochd: listening on ") {
            Some(url) => node.url = url.trim_end_matches('/').to_owned(),
            None => bail!(
                "the node did not start (first stdout line {first:?}); its log ends with:\n{}",
                node.log_tail(20)
            ),
        }
        Ok(node)
    }

    /// The last `lines` lines of the node's log (stderr).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of the node's log that contain `needle` (and not `but_not`).
    pub fn log_count(&self, needle: &str, but_not: Option<&str>) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle) && !but_not.is_some_and(|n| l.contains(n)))
            .count()
    }

    /// Whether the process has exited (its status, if so).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then waits up to 20 s for it to exit (SIGKILL after that).
    pub fn stop(mut self) -> Result<ExitStatus> {
        let pid = self.pid.to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("running kill -TERM")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                bail!("the node did not stop within 20 s of SIGTERM: killed");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU seconds a process has used (all its threads, live and ended).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcCpu {
    /// User seconds.
    pub user: f64,
    /// Kernel seconds.
    pub system: f64,
}

impl ProcCpu {
    /// Reads `/proc/<pid>/stat` (zero where `/proc` is not there).
    pub fn of(pid: u32) -> ProcCpu {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the name, from field 3 (`state`): utime is 14, stime 15, in
        // clock ticks (USER_HZ, 100 on Linux).
        let fields: Vec<&str> = stat
            .rfind(')')
            .map_or("", |close| &stat[close + 1..])
            .split_whitespace()
            .collect();
        let field = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0) as f64
                / 100.0
        };
        ProcCpu {
            user: field(14),
            system: field(15),
        }
    }

    /// What was used since `earlier`.
    pub fn since(self, earlier: ProcCpu) -> ProcCpu {
        ProcCpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }

    /// User plus kernel seconds.
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

/// Resident memory of a process, bytes: now (`VmRSS`) and its peak (`VmHWM`), from
/// `/proc/<pid>/status` (zero where it is not there).
pub fn rss(pid: u32) -> (u64, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

/// The default `epochd` binary: `$CARGO_TARGET_DIR/release/epochd` when that is
/// set, else `target/release/epochd` of this workspace.
pub fn default_epochd() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("release/epochd")
}

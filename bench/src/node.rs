//! A node under test: a real `epochd serve --no-auth` child process on loopback, on a
//! fresh temp data directory that is removed once the node is gone. Its stderr (the
//! log) goes to a file beside the data directory, so the log does not count in the
//! data directory's size.

use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// A running node; killed when dropped.
pub struct Node {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its process id.
    pub pid: u32,
    /// Its `--data` directory.
    pub data: PathBuf,
    log: PathBuf,
    // Last: removed after the child is gone.
    _dir: tempfile::TempDir,
}

impl Node {
    /// Starts `epochd serve --no-auth --listen 127.0.0.1:0 --data <tmp>/data` plus
    /// `extra` arguments, in a temp dir named `prefix…` under `root`, and waits (at most
    /// 60 s) for its first stdout line, `epochd: listening on http://ADDR`.
    pub fn start(epochd: &Path, root: &Path, prefix: &str, extra: &[OsString]) -> Result<Node> {
        Node::start_with(epochd, root, prefix, |_| Ok(extra.to_vec()))
    }

    /// [`Node::start`] with the extra arguments made by `setup` from the node's temp
    /// dir (e.g. a jobs directory it fills there).
    pub fn start_with(
        epochd: &Path,
        root: &Path,
        prefix: &str,
        setup: impl FnOnce(&Path) -> Result<Vec<OsString>>,
    ) -> Result<Node> {
        ensure!(
            epochd.is_file(),
            "{} is missing: build it first with `cargo build --release -p epochd` (or pass \
             --epochd PATH / EPOCHD_BIN)",
            epochd.display()
        );
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(root)
            .with_context(|| format!("creating a temp dir in {}", root.display()))?;
        let data = dir.path().join("data");
        let log = dir.path().join("epochd.log");
        let extra = setup(dir.path())?;
        let mut child = Command::new(epochd)
            // Benchmarks count the `commit received` lines (debug).
            .env("EPOCHD_LOG", "info,epochd::pipeline::fanout=debug")
            .args(["serve", "--no-auth", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .args(&extra)
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log)?)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", epochd.display()))?;
        let first = first_line(&mut child)?;
        let mut node = Node {
            pid: child.id(),
            child,
            url: String::new(),
            data,
            log,
            _dir: dir,
        };
        let line = first
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        match line.trim().strip_prefix("epochd: listening on ") {
            Some(url) => node.url = url.trim_end_matches('/').to_owned(),
            None => bail!(
                "the node did not start (first stdout line {line:?}); its log ends with:\n{}",
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

    /// Fails, with the end of the log, if the node has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.exited() {
            bail!(
                "the node exited ({status}); its log ends with:\n{}",
                self.log_tail(20)
            );
        }
        Ok(())
    }

    /// SIGTERM, then waits up to 20 s for it to exit (SIGKILL after that).
    pub fn stop(mut self) -> Result<ExitStatus> {
        Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
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

/// A child's first stdout line, when it comes; the rest of stdout is drained so the
/// node never blocks on a full pipe.
pub fn first_line(child: &mut Child) -> Result<mpsc::Receiver<String>> {
    let stdout = child.stdout.take().context("the node's stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("node-stdout".into())
        .spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(std::mem::take(&mut line));
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                line.clear();
            }
        })?;
    Ok(rx)
}

/// The default `epochd` binary: `$CARGO_TARGET_DIR/release/epochd` when that is set,
/// else `target/release/epochd` of this workspace.
pub fn default_epochd() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("release/epochd")
}

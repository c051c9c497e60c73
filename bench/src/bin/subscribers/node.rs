//! The node under test: a real `epochd serve` child process on loopback
//! ([`epochd_bench::node::Node`]) with demo traffic and the reference jobs in a jobs
//! directory of its own.

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use anyhow::{ensure, Context, Result};
use epochd_bench::node::Node;

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

/// Starts `epochd serve --no-auth --demo-rate RATE --jobs-dir DIR`, the jobs copied
/// into `DIR` in the node's temp dir.
pub fn start(options: &NodeOptions<'_>) -> Result<Node> {
    Node::start_with(
        options.epochd,
        options.root,
        "epochd-bench-subscribers-",
        |dir| {
            let jobs = dir.join("jobs");
            fs::create_dir_all(&jobs)?;
            for name in options.jobs {
                let from = options.wasm_dir.join(format!("{name}.wasm"));
                ensure!(
                    from.is_file(),
                    "{} is missing: build the reference jobs first with wasm-jobs/build (or \
                     point --wasm-dir at them)",
                    from.display()
                );
                fs::copy(&from, jobs.join(format!("{name}.wasm")))
                    .with_context(|| format!("copying {}", from.display()))?;
            }
            let mut extra: Vec<OsString> = vec![
                "--jobs-dir".into(),
                jobs.into(),
                "--demo-rate".into(),
                options.rate.to_string().into(),
            ];
            if let Some(ms) = options.settle_ms {
                extra.extend(["--stream-settle-ms".into(), ms.to_string().into()]);
            }
            if options.no_cgroups {
                extra.push("--no-cgroups".into());
            }
            Ok(extra)
        },
    )
}

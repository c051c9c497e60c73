//! The reference jobs (built by `wasm-jobs/build`), compiled once each, the
//! round-robin mix of N jobs, and the check that every run succeeded with the same
//! result as every other instance of its job.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use epochd_bench::Stopwatch;
use epochd_jobs::{JobModule, RunError, Runtime};
use serde_json::Value;

/// The reference jobs, in mix order: job `i` of N is `NAMES[i % 3]`.
pub const NAMES: [&str; 3] = ["count", "latency", "error-rate"];

/// One distinct job module, compiled once.
pub struct Job {
    /// Its name (`wasm-jobs/<name>`).
    pub name: &'static str,
    /// The compiled, checked module; every run instantiates it afresh.
    pub module: JobModule,
    /// Size of the `.wasm`, bytes.
    pub wasm_bytes: usize,
    /// Seconds `Runtime::compile` took (once, at submission; not in any total).
    pub compile_secs: f64,
}

/// Reads `<dir>/<name>.wasm` for every reference job and compiles each once.
pub fn load(dir: &Path, runtime: &Runtime) -> Result<Vec<Job>> {
    NAMES
        .iter()
        .map(|&name| {
            let path = dir.join(format!("{name}.wasm"));
            let wasm = std::fs::read(&path).with_context(|| {
                format!(
                    "reading {}: build the reference jobs first with wasm-jobs/build (or point \
                     --wasm-dir at their out/ folder)",
                    path.display()
                )
            })?;
            let watch = Stopwatch::start();
            let module = runtime
                .compile(&wasm)
                .with_context(|| format!("compiling {}", path.display()))?;
            Ok(Job {
                name,
                module,
                wasm_bytes: wasm.len(),
                compile_secs: watch.secs(),
            })
        })
        .collect()
}

/// Which job (index into [`NAMES`]) is the `i`-th of a mix.
pub fn kind(i: usize) -> usize {
    i % NAMES.len()
}

/// How many of each job a mix of `n` holds.
pub fn mix(n: usize) -> [usize; 3] {
    let mut counts = [0; 3];
    for i in 0..n {
        counts[kind(i)] += 1;
    }
    counts
}

/// What one run gave back: which job, and its outcome.
pub type Output = (usize, Result<Vec<u8>, RunError>);

/// The result each job gave first; every later run of it must give the same bytes.
#[derive(Debug, Default)]
pub struct Expected {
    results: [Option<Vec<u8>>; 3],
}

impl Expected {
    /// Checks that every run succeeded and gave the result of its job's other
    /// instances (this round's, and every earlier round's and path's). The first
    /// result of each job is also checked for sense against the commit: `count`
    /// counted every event, `error-rate` saw WEB events in `dc`, `latency` has
    /// percentiles.
    pub fn check(&mut self, outputs: Vec<Output>, events: usize, dc: &str) -> Result<()> {
        for (i, (job, outcome)) in outputs.into_iter().enumerate() {
            let name = NAMES[job];
            let result = match outcome {
                Ok(result) => result,
                Err(e) => bail!("run {} ({name}) failed: {e}", i + 1),
            };
            match &self.results[job] {
                Some(first) => ensure!(
                    *first == result,
                    "run {} ({name}) gave a result different from the job's first one:\n  \
                     first: {}\n  this:  {}",
                    i + 1,
                    String::from_utf8_lossy(first),
                    String::from_utf8_lossy(&result)
                ),
                None => {
                    sense(name, &result, events, dc)?;
                    self.results[job] = Some(result);
                }
            }
        }
        Ok(())
    }

    /// The result of job `job`, once one run of it has been checked.
    pub fn result(&self, job: usize) -> Option<&[u8]> {
        self.results[job].as_deref()
    }
}

/// A quick look at a result, so a job that reads nothing cannot pass for fast.
fn sense(name: &str, result: &[u8], events: usize, dc: &str) -> Result<()> {
    let json: Value =
        serde_json::from_slice(result).with_context(|| format!("{name}'s result is not JSON"))?;
    match name {
        "count" => {
            let counted = json["events"].as_u64();
            ensure!(
                counted == Some(events as u64),
                "count counted {counted:?} events of {events}"
            );
        }
        "latency" => {
            let subtypes = json["subtypes"].as_object().map_or(0, |m| m.len());
            ensure!(subtypes > 0, "latency found no subtype with a wallclock");
        }
        "error-rate" => {
            let web = json["dcs"][dc]["web"].as_u64().unwrap_or(0);
            ensure!(web > 0, "error-rate saw no WEB event in {dc}");
        }
        _ => {}
    }
    Ok(())
}

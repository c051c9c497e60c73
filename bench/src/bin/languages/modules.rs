//! The job modules to compare: the reference jobs in Rust (`wasm-jobs/out/<job>.wasm`)
//! and in every other language whose folder `wasm-jobs/out/<lang>/` exists (C, Zig,
//! AssemblyScript, Go, Python, JavaScript, ...), each compiled once on the job runtime,
//! then loaded from its compiled artifact as a restarted daemon loads it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use epochd_bench::Stopwatch;
use epochd_jobs::{JobModule, Runtime};

/// The reference jobs, in table order.
pub const JOBS: [&str; 3] = ["count", "latency", "error-rate"];

/// One (job, language) module, compiled once.
pub struct Module {
    /// The job (`count`, `latency`, `error-rate`).
    pub job: &'static str,
    /// The language (`rust`, or the folder's name under `out/`).
    pub lang: String,
    /// The compiled, checked module; every run instantiates it afresh.
    pub module: JobModule,
    /// Size of the `.wasm`, bytes.
    pub bytes: usize,
    /// Seconds `Runtime::compile` took (once, as at submission).
    pub compile_secs: f64,
    /// Size of its compiled artifact (`JobModule::artifact`), bytes.
    pub artifact_bytes: usize,
    /// Seconds `Runtime::load` took to load it from that artifact (as a
    /// restarted daemon does).
    pub load_secs: f64,
}

/// The languages under `dir`: `rust` (the modules at the top), then every
/// sub-folder, sorted.
fn languages(dir: &Path) -> Result<Vec<(String, std::path::PathBuf)>> {
    let mut others = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "reading {}: build the reference jobs first with wasm-jobs/build",
            dir.display()
        )
    })?;
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            others.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
            ));
        }
    }
    others.sort();
    let mut all = vec![("rust".to_owned(), dir.to_path_buf())];
    all.extend(others);
    Ok(all)
}

/// Reads and compiles the module of every job `JOBS[j]` for `j` in `jobs` in every
/// language under `dir` (only those in `langs`, unless it is empty). The Rust modules
/// must be there; another language's missing job is skipped (and said so).
pub fn load(
    dir: &Path,
    runtime: &Runtime,
    jobs: &[usize],
    langs: &[String],
) -> Result<Vec<Module>> {
    let mut modules = Vec::new();
    let all = languages(dir)?;
    if let Some(unknown) = langs
        .iter()
        .find(|l| !all.iter().any(|(lang, _)| lang == *l))
    {
        bail!(
            "--lang {unknown}: no such language under {} (there are: {})",
            dir.display(),
            all.iter()
                .map(|(l, _)| l.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (lang, folder) in all {
        if !langs.is_empty() && !langs.contains(&lang) {
            continue;
        }
        for job in jobs.iter().map(|j| JOBS[*j]) {
            let path = folder.join(format!("{job}.wasm"));
            if !path.exists() {
                if lang == "rust" {
                    bail!(
                        "{} is missing: build the reference jobs first with wasm-jobs/build",
                        path.display()
                    );
                }
                eprintln!("{lang}: no {job}.wasm in {}, skipped", folder.display());
                continue;
            }
            let wasm =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let watch = Stopwatch::start();
            let compiled = runtime
                .compile(&wasm)
                .with_context(|| format!("compiling {}", path.display()))?;
            let compile_secs = watch.secs();
            let artifact = compiled
                .artifact()
                .with_context(|| format!("the artifact of {}", path.display()))?;
            // The runs use the module loaded from the artifact, as a restarted
            // daemon does: the warm-up checks its results too.
            let watch = Stopwatch::start();
            let module = runtime
                .load(&wasm, &artifact)
                .with_context(|| format!("loading the artifact of {}", path.display()))?;
            modules.push(Module {
                job,
                lang: lang.clone(),
                module,
                bytes: wasm.len(),
                compile_secs,
                artifact_bytes: artifact.len(),
                load_secs: watch.secs(),
            });
        }
    }
    Ok(modules)
}

//! Jobs from a directory: every `NAME.wasm` there, with its manifest from
//! `NAME.json` when present (else defaults), is registered at start.

use std::path::Path;

use anyhow::Context;

use super::{JobManifest, Registry, RegistryError};

/// Registers the jobs of `dir` that are not registered yet; returns their names.
pub fn load_jobs_dir(registry: &Registry, dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut added = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the jobs directory {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    entries.sort();
    for wasm_path in entries {
        let name = wasm_path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("a job file name is not UTF-8")?
            .to_owned();
        if registry.get(&name).is_some() {
            continue;
        }
        let manifest_path = wasm_path.with_extension("json");
        let manifest = if manifest_path.exists() {
            let text = std::fs::read_to_string(&manifest_path)?;
            serde_json::from_str(&text)
                .with_context(|| format!("reading the manifest {}", manifest_path.display()))?
        } else {
            JobManifest::new(&name)
        };
        let wasm = std::fs::read(&wasm_path)?;
        match registry.submit(manifest, &wasm) {
            Ok(_) | Err(RegistryError::Exists(_)) => added.push(name),
            Err(e) => {
                return Err(e).with_context(|| format!("registering {}", wasm_path.display()))
            }
        }
    }
    Ok(added)
}

//! Jobs from a directory: every `NAME.wasm` there, with its manifest from
//! `NAME.json` when present (else defaults), is registered at start.

use std::path::{Path, PathBuf};

use super::{JobManifest, Registry, RegistryError};

/// Why a jobs directory was not loaded; the file it is about is named.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobsDirError {
    /// The directory or a file in it could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A job's file name is not UTF-8, so it cannot be a job's name.
    #[error("{0}: a job's file name must be UTF-8 (it is the job's name)")]
    Name(PathBuf),
    /// A manifest is not a job manifest.
    #[error("reading the manifest {path}: {source}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        source: serde_json::Error,
    },
    /// The job was refused.
    #[error("registering {path}: {source}")]
    Refused {
        /// Its module.
        path: PathBuf,
        /// Why.
        source: RegistryError,
    },
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> JobsDirError + '_ {
    move |source| JobsDirError::Read {
        path: path.to_owned(),
        source,
    }
}

/// Registers the jobs of `dir` that are not registered yet; returns their names.
pub fn load_jobs_dir(registry: &Registry, dir: &Path) -> Result<Vec<String>, JobsDirError> {
    let mut added = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_error(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    entries.sort();
    for wasm_path in entries {
        let name = wasm_path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| JobsDirError::Name(wasm_path.clone()))?
            .to_owned();
        if registry.get(&name).is_some() {
            continue;
        }
        let manifest_path = wasm_path.with_extension("json");
        let manifest = if manifest_path.exists() {
            let text =
                std::fs::read_to_string(&manifest_path).map_err(read_error(&manifest_path))?;
            serde_json::from_str(&text).map_err(|source| JobsDirError::Manifest {
                path: manifest_path.clone(),
                source,
            })?
        } else {
            JobManifest::new(&name)
        };
        let wasm = std::fs::read(&wasm_path).map_err(read_error(&wasm_path))?;
        match registry.submit(manifest, &wasm) {
            Ok(_) | Err(RegistryError::Exists(_)) => added.push(name),
            Err(source) => {
                return Err(JobsDirError::Refused {
                    path: wasm_path,
                    source,
                })
            }
        }
    }
    Ok(added)
}

//! The jobs of this daemon: compiled once, persisted with their wasm, each
//! with its cgroup, counters and pause state. What a job asks for is its
//! manifest (`manifest`); a registered job is `job`; its compiled artifact,
//! kept so that a restart need not compile it again, is in `compiled`; a
//! folder of jobs to load at start is `jobs_dir`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use epochd_cgroups::CpuCaps;
use epochd_jobs::{JobModule, Runtime, SubmitError};

mod cluster;
mod compiled;
mod job;
mod jobs_dir;
mod manifest;

pub use compiled::{write_durably, CompiledDir};
use job::State;
pub use job::{BackfillState, BackfillStatus, Job, JobStats, ModuleOrigin};
pub use jobs_dir::{load_jobs_dir, JobsDirError};
pub use manifest::{Backfill, JobManifest, MAX_BACKFILL_EPOCHS};

/// Why a job was not registered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The manifest is invalid.
    #[error("invalid job manifest: {0}")]
    Manifest(String),
    /// The module does not satisfy the ABI.
    #[error(transparent)]
    Module(#[from] SubmitError),
    /// A job of that name exists.
    #[error("a job named {0:?} already exists: delete it first, or choose another name")]
    Exists(String),
    /// No job of that name.
    #[error("no job named {0:?}")]
    NotFound(String),
    /// Its cgroup could not be set up.
    #[error("the job's CPU cap could not be set: {0}")]
    Cgroup(#[from] epochd_cgroups::CgroupError),
    /// The database failed.
    #[error("jobs database: {0}")]
    Db(#[from] sled::Error),
    /// A stored job does not decode.
    #[error("a stored job does not decode: {0}")]
    Corrupt(String),
}

/// What is persisted of a job.
#[derive(Serialize, Deserialize)]
struct Stored {
    manifest: JobManifest,
    #[serde(with = "serde_bytes")]
    wasm: Vec<u8>,
    paused: Option<String>,
    /// In cluster mode, the job as the cluster's registry has it (JSON):
    /// which epochs it runs for. Absent for a job of this node alone.
    #[serde(default)]
    cluster: Option<String>,
}

/// What this node lets any job ask for, beyond the manifest's own bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    /// The run memory budget: a job's `memory_mib` must fit it.
    pub run_memory_bytes: usize,
    /// The largest result a job's quotas let it store.
    pub max_result_bytes: u64,
}

/// Every job of the daemon.
pub struct Registry {
    limits: NodeLimits,
    runtime: Runtime,
    caps: Option<CpuCaps>,
    tree: sled::Tree,
    compiled: CompiledDir,
    jobs: RwLock<BTreeMap<String, Arc<Job>>>,
}

impl Registry {
    /// Opens the registry in `db` and loads every stored job: from the
    /// artifact kept in `compiled`, or compiled again from its wasm.
    pub fn open(
        db: &sled::Db,
        compiled: CompiledDir,
        runtime: Runtime,
        caps: Option<CpuCaps>,
        limits: NodeLimits,
    ) -> Result<Registry, RegistryError> {
        let registry = Registry {
            limits,
            runtime,
            caps,
            tree: db.open_tree("jobs")?,
            compiled,
            jobs: RwLock::new(BTreeMap::new()),
        };
        for item in registry.tree.iter() {
            let (_, value) = item?;
            let stored: Stored =
                rmp_serde::from_slice(&value).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
            stored
                .manifest
                .validate()
                .map_err(RegistryError::Manifest)?;
            let (module, origin) = registry.reopen(&stored.manifest.name, &stored.wasm)?;
            let job = registry.build(stored.manifest, module, origin)?;
            job.state.lock().paused = stored.paused;
            *job.cluster.write() = cluster::decode(stored.cluster.as_deref())?;
            registry.jobs.write().insert(job.manifest.name.clone(), job);
        }
        let names = registry.jobs.read().keys().cloned().collect();
        registry.compiled.retain(&names);
        Ok(registry)
    }

    /// A stored job's module: loaded from its kept artifact, or else
    /// compiled again (and its artifact kept anew).
    fn reopen(&self, name: &str, wasm: &[u8]) -> Result<(JobModule, ModuleOrigin), RegistryError> {
        let watch = Instant::now();
        if let Some(artifact) = self.compiled.read(name) {
            match self.runtime.load(wasm, &artifact) {
                Ok(module) => {
                    let origin = ModuleOrigin {
                        from_artifact: true,
                        secs: watch.elapsed().as_secs_f64(),
                    };
                    tracing::info!(job = name, secs = origin.secs, "loaded the compiled job");
                    return Ok((module, origin));
                }
                Err(e) => {
                    tracing::warn!(job = name, error = %e, "cannot use the kept compiled job; compiling its wasm");
                }
            }
        }
        let (module, origin) = self.compile(wasm)?;
        self.keep_artifact(name, &module);
        Ok((module, origin))
    }

    fn compile(&self, wasm: &[u8]) -> Result<(JobModule, ModuleOrigin), RegistryError> {
        let watch = Instant::now();
        let module = self.runtime.compile(wasm)?;
        let origin = ModuleOrigin {
            from_artifact: false,
            secs: watch.elapsed().as_secs_f64(),
        };
        Ok((module, origin))
    }

    /// Writes the job's artifact; a failure (a full disk) only costs the
    /// next restart a compile.
    fn keep_artifact(&self, name: &str, module: &JobModule) {
        let kept = module
            .artifact()
            .map_err(|e| e.to_string())
            .and_then(|bytes| self.compiled.write(name, &bytes).map_err(|e| e.to_string()));
        if let Err(error) = kept {
            tracing::warn!(job = name, %error, "cannot keep the compiled job: the next start compiles it again");
        }
    }

    /// A job of a valid manifest and its module, with its cgroup.
    fn build(
        &self,
        manifest: JobManifest,
        module: JobModule,
        origin: ModuleOrigin,
    ) -> Result<Arc<Job>, RegistryError> {
        let cgroup = match &self.caps {
            Some(caps) => Some(caps.job(&manifest.name, manifest.cpu_share)?),
            None => None,
        };
        Ok(Arc::new(Job {
            manifest,
            module,
            origin,
            cgroup,
            stats: JobStats::default(),
            backfill: Mutex::new(None),
            state: Mutex::new(State::default()),
            cluster: RwLock::new(None),
        }))
    }

    /// Compiles, checks and registers a job; it runs on the next commits.
    pub fn submit(&self, manifest: JobManifest, wasm: &[u8]) -> Result<Arc<Job>, RegistryError> {
        let job = self.prepare(manifest, wasm)?;
        self.install(job, wasm)
    }

    /// Every check of a submission, and the job compiled, without
    /// registering it: what is refused here changes nothing.
    pub fn prepare(&self, manifest: JobManifest, wasm: &[u8]) -> Result<Arc<Job>, RegistryError> {
        if self.jobs.read().contains_key(&manifest.name) {
            return Err(RegistryError::Exists(manifest.name));
        }
        self.check_node_limits(&manifest)?;
        manifest
            .check_backfill_at(crate::clock::now_secs())
            .map_err(RegistryError::Manifest)?;
        manifest.validate().map_err(RegistryError::Manifest)?;
        let (module, origin) = self.compile(wasm)?;
        let job = self.build(manifest, module, origin)?;
        check_fits_memory(&job)?;
        Ok(job)
    }

    /// Registers a prepared job (with its cluster state, if any), durably;
    /// [`RegistryError::Exists`] if one of its name was registered since.
    pub fn install(&self, job: Arc<Job>, wasm: &[u8]) -> Result<Arc<Job>, RegistryError> {
        let mut jobs = self.jobs.write();
        if jobs.contains_key(&job.manifest.name) {
            return Err(RegistryError::Exists(job.manifest.name.clone()));
        }
        let stored = Stored {
            manifest: job.manifest.clone(),
            wasm: wasm.to_vec(),
            paused: None,
            cluster: cluster::encode(job.cluster().as_ref()),
        };
        let bytes =
            rmp_serde::to_vec_named(&stored).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
        self.tree.insert(job.manifest.name.as_bytes(), bytes)?;
        self.tree.flush()?;
        jobs.insert(job.manifest.name.clone(), job.clone());
        drop(jobs);
        // After the job is durable and outside the lock: tens of MB for a
        // Python job, and only a cache.
        self.keep_artifact(&job.manifest.name, &job.module);
        Ok(job)
    }

    /// What this node allows beyond the manifest's own bounds (checked at
    /// submission only: a job stored before the node's limits were lowered
    /// still opens, and its runs hit the limits instead).
    fn check_node_limits(&self, manifest: &JobManifest) -> Result<(), RegistryError> {
        let NodeLimits {
            run_memory_bytes,
            max_result_bytes,
        } = self.limits;
        let memory = manifest.memory_mib as usize * (1 << 20);
        if memory > run_memory_bytes {
            return Err(RegistryError::Manifest(format!(
                "memory_mib {} is more than this node's run memory budget of {} MiB \
                 (--run-memory-bytes): ask for less",
                manifest.memory_mib,
                run_memory_bytes >> 20
            )));
        }
        if manifest.max_result_bytes as u64 > max_result_bytes {
            return Err(RegistryError::Manifest(format!(
                "max_result_bytes {} is more than this node lets a job store at once \
                 ({max_result_bytes} bytes: a burst of --job-results-bytes-per-sec, at most \
                 --job-results-stored-bytes): ask for less",
                manifest.max_result_bytes,
            )));
        }
        Ok(())
    }

    /// Removes a job (its results stay until their retention).
    pub fn remove(&self, name: &str) -> Result<(), RegistryError> {
        let job = self
            .jobs
            .write()
            .remove(name)
            .ok_or_else(|| RegistryError::NotFound(name.to_owned()))?;
        self.tree.remove(name.as_bytes())?;
        self.tree.flush()?;
        self.compiled.remove(name);
        if let Some(caps) = &self.caps {
            drop(job);
            caps.remove_job(name)?;
        }
        Ok(())
    }

    /// Persists a job's pause state and cluster state.
    pub fn persist_pause(&self, job: &Job) -> Result<(), RegistryError> {
        if let Some(value) = self.tree.get(job.manifest.name.as_bytes())? {
            let mut stored: Stored =
                rmp_serde::from_slice(&value).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
            stored.paused = job.paused();
            stored.cluster = cluster::encode(job.cluster().as_ref());
            let bytes = rmp_serde::to_vec_named(&stored)
                .map_err(|e| RegistryError::Corrupt(e.to_string()))?;
            self.tree.insert(job.manifest.name.as_bytes(), bytes)?;
        }
        Ok(())
    }

    /// Pauses a job (its runs stop until resumed), durably.
    pub fn pause(&self, name: &str, reason: &str) -> Result<Arc<Job>, RegistryError> {
        let job = self
            .get(name)
            .ok_or_else(|| RegistryError::NotFound(name.to_owned()))?;
        if job.paused().is_none() {
            job.set_paused(Some(reason.to_owned()));
            self.persist_pause(&job)?;
            self.tree.flush()?;
        }
        Ok(job)
    }

    /// Resumes a paused job, durably.
    pub fn resume(&self, name: &str) -> Result<Arc<Job>, RegistryError> {
        let job = self
            .get(name)
            .ok_or_else(|| RegistryError::NotFound(name.to_owned()))?;
        job.set_paused(None);
        self.persist_pause(&job)?;
        self.tree.flush()?;
        Ok(job)
    }

    /// One job.
    pub fn get(&self, name: &str) -> Option<Arc<Job>> {
        self.jobs.read().get(name).cloned()
    }

    /// Every job, by name.
    pub fn list(&self) -> Vec<Arc<Job>> {
        self.jobs.read().values().cloned().collect()
    }

    /// The CPU caps, if available.
    pub fn caps(&self) -> Option<&CpuCaps> {
        self.caps.as_ref()
    }
}

/// Refuses a module whose linear memory when a run's entry points begin
/// (at instantiation, or after its `_initialize`) is already more than its
/// manifest's `memory_mib`: every run of it would fail before `epochd_run`.
fn check_fits_memory(job: &Job) -> Result<(), RegistryError> {
    const MIB: u64 = 1 << 20;
    let initial = job.module.initial_memory_bytes();
    let cap = u64::from(job.manifest.memory_mib) * MIB;
    if initial > cap {
        return Err(RegistryError::Manifest(format!(
            "the module's initial memory (after its `_initialize`, if it has one) is {initial} \
             bytes ({} pages of 64 KiB, {:.1} MiB), more than its memory_mib of {} MiB, so \
             every run would fail: set memory_mib to at least {}, or build the module with a \
             smaller initial memory (wasm-ld --initial-memory, a smaller stack or fewer static \
             data) or a smaller start in `_initialize`",
            initial / 65_536,
            initial as f64 / MIB as f64,
            job.manifest.memory_mib,
            initial.div_ceil(MIB)
        )));
    }
    Ok(())
}

//! A job's manifest: what it wants to see and what it may use.

use serde::{Deserialize, Serialize};

use epochd_jobs::RunLimits;
use epochd_store::Manifest;

/// A job as submitted, besides its wasm module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobManifest {
    /// Name: 1 to 64 of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit.
    pub name: String,
    /// Data centers whose commits the job runs on; empty = every dc.
    #[serde(default)]
    pub dcs: Vec<String>,
    /// Event types the job needs: it runs on a commit holding at least one;
    /// empty = every commit.
    #[serde(default)]
    pub types: Vec<String>,
    /// Share of one core its runs may use, `0 < share <= 1`. Default 0.1.
    #[serde(default = "default_cpu_share")]
    pub cpu_share: f64,
    /// Most linear memory a run may use, in MiB. Default 64.
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u32,
    /// Wall-clock deadline of one run, in milliseconds. Default 1000.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Largest result a run may emit, in bytes. Default 65536.
    #[serde(default = "default_max_result_bytes")]
    pub max_result_bytes: usize,
    /// Bytes given to the job (`config_read`), as text. Default empty.
    #[serde(default)]
    pub config: String,
    /// Also run the job over the commits already stored for these epochs,
    /// once, at submission. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<Backfill>,
}

/// Epochs to run a new job over, from the commits already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backfill {
    /// First epoch (unix second).
    pub from: u64,
    /// Last epoch; default: the newest second at submission.
    #[serde(default)]
    pub to: Option<u64>,
}

/// Most epochs one backfill may cover (a day).
pub const MAX_BACKFILL_EPOCHS: u64 = 86_400;

fn default_cpu_share() -> f64 {
    0.1
}
fn default_memory_mib() -> u32 {
    64
}
fn default_deadline_ms() -> u64 {
    1000
}
fn default_max_result_bytes() -> usize {
    64 * 1024
}

/// Most memory a job may ask for, MiB.
pub const MAX_MEMORY_MIB: u32 = 4096;
/// Longest deadline, milliseconds.
pub const MAX_DEADLINE_MS: u64 = 60_000;
/// Largest result, bytes.
pub const MAX_RESULT_BYTES: usize = 16 << 20;

impl JobManifest {
    /// A manifest with defaults.
    pub fn new(name: &str) -> JobManifest {
        JobManifest {
            name: name.to_owned(),
            dcs: Vec::new(),
            types: Vec::new(),
            cpu_share: default_cpu_share(),
            memory_mib: default_memory_mib(),
            deadline_ms: default_deadline_ms(),
            max_result_bytes: default_max_result_bytes(),
            config: String::new(),
            backfill: None,
        }
    }

    /// Checks every field; the error says which and what is allowed.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.as_bytes()[0].is_ascii_alphanumeric()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(format!(
                "name {:?}: use 1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit",
                self.name
            ));
        }
        for dc in &self.dcs {
            epochd_store::validate_dc(dc).map_err(|e| format!("dcs: {e}"))?;
        }
        for t in &self.types {
            epochd_store::validate_type("type", t).map_err(|e| format!("types: {e}"))?;
        }
        if !(self.cpu_share > 0.0 && self.cpu_share <= 1.0) {
            return Err(format!(
                "cpu_share {} must be above 0 and at most 1 (a share of one core)",
                self.cpu_share
            ));
        }
        if self.memory_mib == 0 || self.memory_mib > MAX_MEMORY_MIB {
            return Err(format!(
                "memory_mib {} must be 1 to {MAX_MEMORY_MIB}",
                self.memory_mib
            ));
        }
        if self.deadline_ms == 0 || self.deadline_ms > MAX_DEADLINE_MS {
            return Err(format!(
                "deadline_ms {} must be 1 to {MAX_DEADLINE_MS}",
                self.deadline_ms
            ));
        }
        if self.max_result_bytes == 0 || self.max_result_bytes > MAX_RESULT_BYTES {
            return Err(format!(
                "max_result_bytes {} must be 1 to {MAX_RESULT_BYTES}",
                self.max_result_bytes
            ));
        }
        if let Some(b) = &self.backfill {
            let to = b.to.unwrap_or(u64::MAX);
            if b.from > to {
                return Err(format!("backfill: from {} is after to {to}", b.from));
            }
            if b.to.is_some() && to - b.from >= MAX_BACKFILL_EPOCHS {
                return Err(format!(
                    "backfill: {} epochs asked for; at most {MAX_BACKFILL_EPOCHS} at once",
                    to - b.from + 1
                ));
            }
        }
        Ok(())
    }

    /// Checks the backfill's size at submission, `now` standing for a `to`
    /// left out (it means the newest second then). Not part of
    /// [`JobManifest::validate`], which also runs when a stored job is opened
    /// again, later, when the same backfill would look longer.
    pub fn check_backfill_at(&self, now: u64) -> Result<(), String> {
        match self.backfill {
            Some(Backfill { from, to: None })
                if now >= from && now - from >= MAX_BACKFILL_EPOCHS =>
            {
                Err(format!(
                    "backfill: from {from} to now ({now}) is {} epochs; at most \
                     {MAX_BACKFILL_EPOCHS} at once: start later, or give \"to\" and submit \
                     the rest as another job",
                    now - from + 1
                ))
            }
            _ => Ok(()),
        }
    }

    /// The limits of one of its runs (or merges).
    pub fn limits(&self) -> RunLimits {
        RunLimits {
            deadline: std::time::Duration::from_millis(self.deadline_ms),
            memory_bytes: self.memory_mib as usize * (1 << 20),
            max_result_bytes: self.max_result_bytes,
            random_seed: self.random_seed(),
        }
    }

    /// The seed of its runs' deterministic `random_get` stream (with the
    /// epoch and dc): its name's hash, so the same job draws the same bytes
    /// for an epoch on every node and after every restart.
    fn random_seed(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.name.as_bytes())
    }

    /// Whether a commit (its manifest: dc and event types) is for this job.
    pub fn matches(&self, manifest: &Manifest) -> bool {
        let dc_ok = self.dcs.is_empty() || self.dcs.contains(&manifest.dc);
        let type_ok = self.types.is_empty()
            || manifest
                .chunks
                .iter()
                .any(|c| self.types.contains(&c.event_type));
        dc_ok && type_ok
    }
}

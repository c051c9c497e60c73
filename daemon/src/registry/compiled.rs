//! Compiled jobs kept on disk, one file per job (`<data-dir>/compiled/<job>.cwasm`),
//! so that a restart loads each job's machine code in milliseconds instead of
//! compiling its wasm again: seconds per Python or JavaScript job on two
//! cores, which a node with many of them would spend before serving anything.
//!
//! A cache, not a record: the job's wasm in the store is the truth. A file
//! that is missing, damaged, made for other wasm or by another engine is
//! ignored (the job is compiled and the file written anew); a file that
//! cannot be written (a full disk) costs the next restart a compile, and the
//! submission still succeeds. `epochd_jobs::Runtime::load` checks every file
//! before it is used (artifact.rs in the jobs crate).

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".cwasm";

/// The folder of compiled jobs.
#[derive(Debug, Clone)]
pub struct CompiledDir {
    dir: PathBuf,
}

impl CompiledDir {
    /// Uses `dir`, creating it if needed.
    pub fn open(dir: PathBuf) -> io::Result<CompiledDir> {
        fs::create_dir_all(&dir)?;
        Ok(CompiledDir { dir })
    }

    fn path(&self, job: &str) -> PathBuf {
        self.dir.join(format!("{job}{SUFFIX}"))
    }

    /// The kept artifact of `job`, if there is one that can be read.
    pub fn read(&self, job: &str) -> Option<Vec<u8>> {
        match fs::read(self.path(job)) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(job, error = %e, "cannot read the compiled job; compiling it");
                None
            }
        }
    }

    /// Keeps `artifact` as `job`'s ([`write_durably`]).
    pub fn write(&self, job: &str, artifact: &[u8]) -> io::Result<()> {
        write_durably(&self.dir, &format!("{job}{SUFFIX}"), artifact)
    }

    /// Forgets `job`'s artifact.
    pub fn remove(&self, job: &str) {
        match fs::remove_file(self.path(job)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(job, error = %e, "cannot delete the compiled job"),
        }
    }

    /// Deletes every file but the artifacts of `jobs`: those of jobs removed
    /// while the daemon was down, and writes a crash cut short.
    pub fn retain(&self, jobs: &BTreeSet<String>) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let kept = name
                .strip_suffix(SUFFIX)
                .is_some_and(|job| jobs.contains(job));
            if !kept {
                if let Err(e) = fs::remove_file(entry.path()) {
                    tracing::warn!(file = %name, error = %e, "cannot delete a stale compiled job");
                }
            }
        }
    }
}

/// Writes `bytes` as `dir/name`, atomically and durably: written aside
/// (`name.partial`), synced, renamed into place, the folder synced. A crash
/// leaves the old file or the new one, never half of one; a failure leaves
/// no partial file behind.
pub fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = dir.join(format!("{name}.partial"));
    let written = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, dir.join(name))?;
        fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_whole_file_and_retain_sweeps_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = CompiledDir::open(tmp.path().join("compiled")).unwrap();
        assert_eq!(dir.read("a"), None);
        dir.write("a", b"first, longer bytes").unwrap();
        dir.write("a", b"second").unwrap();
        dir.write("b", b"b's").unwrap();
        fs::write(tmp.path().join("compiled/c.cwasm.partial"), b"cut short").unwrap();
        assert_eq!(dir.read("a").as_deref(), Some(&b"second"[..]));

        dir.retain(&BTreeSet::from(["a".to_owned()]));
        let mut left: Vec<String> = fs::read_dir(tmp.path().join("compiled"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.cwasm"]);
        dir.remove("a");
        dir.remove("a");
        assert_eq!(dir.read("a"), None);
    }
}

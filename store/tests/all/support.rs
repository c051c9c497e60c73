//! Shared builders for the store's tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use epochd_store::{split_events, Store, StoreConfig};
use epochd_workload::{Format as WorkloadFormat, Workload, WorkloadConfig};

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A configuration that seals quickly: no grace, 50 ms of quiet.
pub fn quick_config(dir: &Path) -> StoreConfig {
    StoreConfig {
        grace_ms: 0,
        quiet_ms: 50,
        max_hold_ms: 1000,
        node: "test-node".into(),
        ..StoreConfig::new(dir)
    }
}

/// A configuration that never seals on its own within a test.
pub fn holding_config(dir: &Path) -> StoreConfig {
    StoreConfig {
        grace_ms: 3_600_000,
        ..quick_config(dir)
    }
}

/// The reference workload.
pub fn workload() -> Workload {
    Workload::new(WorkloadConfig::default())
}

/// `count` events of each epoch, concatenated in the given format.
pub fn encode(
    epochs: impl IntoIterator<Item = u64>,
    count: usize,
    format: WorkloadFormat,
) -> Vec<u8> {
    let w = workload();
    let mut out = Vec::new();
    for e in epochs {
        out.extend(w.encode_epoch(e, count, format));
    }
    out
}

/// Every stored event, per (epoch, dc), as MessagePack bytes, sorted.
pub fn stored_events(store: &Store, from: u64, to: u64) -> BTreeMap<(u64, String), Vec<Vec<u8>>> {
    let mut out: BTreeMap<(u64, String), Vec<Vec<u8>>> = BTreeMap::new();
    for c in store.commits(from, to, None).unwrap() {
        let key = epochd_store::ManifestKey {
            epoch: c.epoch,
            dc: c.dc.clone(),
            seq: c.seq,
        };
        let raw = store.commit_events(&key).unwrap().unwrap();
        let events = out.entry((c.epoch, c.dc)).or_default();
        for event in split_events(&raw) {
            events.push(event.unwrap().to_vec());
        }
    }
    for events in out.values_mut() {
        events.sort();
    }
    out
}

/// Splits MessagePack events (generated) per (epoch, dc), sorted like [`stored_events`].
pub fn expected_events(msgpack: &[u8]) -> BTreeMap<(u64, String), Vec<Vec<u8>>> {
    let mut out: BTreeMap<(u64, String), Vec<Vec<u8>>> = BTreeMap::new();
    for event in split_events(msgpack) {
        let event = event.unwrap();
        let (header, _) = epochd_store::scan_event(event).unwrap();
        out.entry((
            header.timestamp.floor() as u64,
            header.dc.unwrap().to_owned(),
        ))
        .or_default()
        .push(event.to_vec());
    }
    for events in out.values_mut() {
        events.sort();
    }
    out
}

/// Asserts that `error`'s message (and its sources) contain `needle`.
#[track_caller]
pub fn assert_contains(error: &dyn std::error::Error, needle: &str) {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(" | ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    assert!(
        text.contains(needle),
        "{text:?} does not contain {needle:?}"
    );
}

/// Runs `test` (its full name) again in a child process of this test
/// binary, with `env` set so it takes its child branch, and asserts that the
/// child ran it and it passed. For faults that are per process, such as a
/// lowered file-descriptor limit.
pub fn run_in_child(test: &str, env: (&str, &Path)) {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env.0, env.1)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the child failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "the child ran the test"
    );
}

/// A tmpfs of a fixed size mounted for one test (the tests run as root), so
/// a full disk is a real one. Unmounted when dropped.
pub struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    /// Mounts `bytes` of tmpfs at `path` (created if missing).
    pub fn mount(path: &Path, bytes: u64) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mounting a tmpfs at {} failed (the fault tests run as root): {status}",
            path.display()
        );
        Tmpfs {
            path: path.to_owned(),
        }
    }

    /// Fills the file system with a file `filler` until a write fails,
    /// then frees `leave` bytes of it. Returns the filler's path.
    pub fn fill(&self, leave: u64) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0xa5u8; 64 << 10];
        let mut len = 0u64;
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => len += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", self.path.display()),
            }
        }
        file.set_len(len.saturating_sub(leave)).unwrap();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

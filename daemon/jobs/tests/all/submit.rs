//! Every reason a module is refused at submission, each with its own error.

use epochd_jobs::{ImportReason, Runtime, RuntimeConfig, SubmitError};

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

    // An empty component: a component, but not of the job world.
    let err = refuse_bytes(b"\0asm\x0d\0\x01\0");
    assert!(
        matches!(err, SubmitError::MissingExport { name: "run", .. }),
        "{err:?}"
    );
    assert_contains(&err.to_string(), "epochd:job/job");

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

/// The reasons of a refusal for imports, in import order.
fn import_problems(err: &SubmitError) -> Vec<(String, String, &'static str, ImportReason)> {
    match err {
        SubmitError::Imports { problems, .. } => problems
            .iter()
            .map(|p| (p.module.clone(), p.name.clone(), p.kind, p.reason.clone()))
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_import_outside_the_abi_is_listed_at_once() {
    let err = refuse(&module(&[
        r#"(import "env" "now" (func (result i64)))"#,
        r#"(import "epochd" "rows" (func (result i32)))"#,
        r#"(import "env" "memory" (memory 1))"#,
        r#"(import "epochd" "epoch_global" (global i64))"#,
        r#"(import "epochd" "open_file" (func (param i32 i32) (result i32)))"#,
        r#"(import "epochd" "column" (func (param i64 i32 i32) (result i32)))"#,
        r#"(import "wasi_snapshot_preview1" "fd_open" (func (param i32) (result i32)))"#,
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32) (result i32)))"#,
        r#"(import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        ABI,
        RUN,
    ]));
    let wrong = |expected: &str, found: &str| ImportReason::WrongSignature {
        expected: expected.into(),
        found: found.into(),
    };
    assert_eq!(
        import_problems(&err),
        [
            (
                "env".into(),
                "now".into(),
                "func",
                ImportReason::ForeignModule
            ),
            (
                "env".into(),
                "memory".into(),
                "memory",
                ImportReason::ForeignModule
            ),
            (
                "epochd".into(),
                "epoch_global".into(),
                "global",
                ImportReason::NotAFunction
            ),
            (
                "epochd".into(),
                "open_file".into(),
                "func",
                ImportReason::UnknownFunction
            ),
            (
                "epochd".into(),
                "column".into(),
                "func",
                wrong(
                    "(func (param i32 i32 i32) (result i32))",
                    "(func (param i64 i32 i32) (result i32))"
                )
            ),
            (
                "wasi_snapshot_preview1".into(),
                "fd_open".into(),
                "func",
                ImportReason::UnknownFunction
            ),
            (
                "wasi_snapshot_preview1".into(),
                "fd_write".into(),
                "func",
                wrong(
                    "(func (param i32 i32 i32 i32) (result i32))",
                    "(func (param i32 i32) (result i32))"
                )
            ),
            (
                "wasi_unstable".into(),
                "fd_write".into(),
                "func",
                ImportReason::ForeignModule
            ),
        ]
    );
    let text = err.to_string();
    assert!(
        text.starts_with("8 imports are not allowed:\n  - `env`.`now` (func)"),
        "{text}"
    );
    // One line per problem, then the advice.
    assert_eq!(
        text.lines().filter(|l| l.starts_with("  - ")).count(),
        8,
        "{text}"
    );
    assert_contains(&text, "column_i64");
    assert_contains(&text, "wasi_snapshot_preview1");
    // A signature that is wrong only in its result is still wrong.
    let err = refuse(&module(&[
        r#"(import "epochd" "fail" (func (param i32 i32) (result i32)))"#,
        MEMORY,
        ABI,
        RUN,
    ]));
    assert!(
        matches!(
            import_problems(&err)[0].3,
            ImportReason::WrongSignature { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn the_advice_is_for_the_language_that_built_the_module() {
    // A producers section (tool-conventions' custom section) naming Go,
    // and an import only GOOS=js makes.
    let go_js = with_producers(
        &wat::parse_str(module(&[
            r#"(import "gojs" "runtime.wasmExit" (func (param i32)))"#,
            r#"(import "gojs" "syscall/js.valueGet" (func (param i32)))"#,
            MEMORY,
            ABI,
            RUN,
        ]))
        .unwrap(),
        "Go",
        "go1.27.3",
    );
    let err = refuse_bytes(&go_js);
    assert_eq!(import_problems(&err).len(), 2);
    let text = err.to_string();
    assert_contains(&text, "built by Go go1.27.3");
    assert_contains(
        &text,
        "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared",
    );
    assert_contains(&text, "sdk/go");

    let rust = with_producers(
        &wat::parse_str(module(&[
            r#"(import "__wbindgen_placeholder__" "__wbindgen_describe" (func (param i32)))"#,
            MEMORY,
            ABI,
            RUN,
        ]))
        .unwrap(),
        "Rust",
        "",
    );
    let text = refuse_bytes(&rust).to_string();
    assert_contains(&text, "wasm-bindgen");
    assert_contains(&text, "wasm32-unknown-unknown");

    // No producers section: told by its imports.
    let text = refuse(&module(&[
        r#"(import "env" "abort" (func (param i32 i32 i32 i32)))"#,
        MEMORY,
        ABI,
        RUN,
    ]))
    .to_string();
    assert_contains(&text, "AssemblyScript");

    // Nothing to go by: the general rule only.
    let text = refuse(&module(&[r#"(import "x" "y" (func))"#, MEMORY, ABI, RUN])).to_string();
    assert_contains(&text, "remove it");
    for language in ["Go:", "Rust:", "C/C++:", "Zig:", "AssemblyScript:"] {
        assert!(!text.contains(language), "{text}");
    }
}

/// `wasm` with a producers section whose `language` field names `language`.
fn with_producers(wasm: &[u8], language: &str, version: &str) -> Vec<u8> {
    fn name(out: &mut Vec<u8>, s: &str) {
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
    let mut body = Vec::new();
    name(&mut body, "producers");
    body.push(1); // one field
    name(&mut body, "language");
    body.push(1); // one value
    name(&mut body, language);
    name(&mut body, version);
    let mut out = wasm.to_vec();
    out.push(0); // a custom section
    out.push(body.len() as u8);
    out.extend(body);
    out
}

#[test]
fn a_wasi_command_is_told_to_build_a_reactor() {
    let err = refuse(&module(&[
        r#"(import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))"#,
        MEMORY,
        ABI,
        r#"(func (export "_start"))"#,
    ]));
    assert!(
        matches!(
            err,
            SubmitError::MissingExport {
                name: "epochd_run",
                ..
            }
        ),
        "{err:?}"
    );
    assert_contains(&err.to_string(), "WASI command");
    assert_contains(&err.to_string(), "-buildmode=c-shared");
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

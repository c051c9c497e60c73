//! Shared builders: a runtime, decoded epochs from JSON events, WebAssembly
//! text jobs with every ABI import declared, and a reader for what the
//! dumping jobs emit.

use std::sync::OnceLock;

use epochd_decode::{decode_raw, EpochMeta, SharedEpoch};
use epochd_jobs::{JobModule, RunError, RunLimits, RunReport, Runtime, RuntimeConfig};
use serde_json::Value;

/// One runtime for the tests that need no special config.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).unwrap())
}

pub fn meta(epoch: u64, dc: &str, seq: u32) -> EpochMeta {
    EpochMeta {
        epoch,
        dc: dc.into(),
        seq,
    }
}

/// Decodes JSON events (as MessagePack, in two chunks) into a shared epoch.
pub fn epoch_of(meta: EpochMeta, events: &[Value]) -> SharedEpoch {
    let half = events.len() / 2;
    let chunk = |events: &[Value]| -> Vec<u8> {
        events
            .iter()
            .flat_map(|e| rmp_serde::to_vec_named(e).unwrap())
            .collect()
    };
    decode_raw(meta, &[chunk(&events[..half]), chunk(&events[half..])]).unwrap()
}

/// Every ABI v1 import, written out independently of the crate's table.
pub const IMPORTS: &str = r#"
  (type $copy (func (param i32 i32 i32 i32) (result i32)))
  (import "epochd" "epoch" (func $epoch (result i64)))
  (import "epochd" "seq" (func $seq (result i32)))
  (import "epochd" "rows" (func $rows (result i32)))
  (import "epochd" "dc" (func $dc (param i32 i32) (result i32)))
  (import "epochd" "column" (func $column (param i32 i32 i32) (result i32)))
  (import "epochd" "column_len" (func $column_len (param i32) (result i32)))
  (import "epochd" "column_dense" (func $column_dense (param i32) (result i32)))
  (import "epochd" "column_rows" (func $column_rows (type $copy)))
  (import "epochd" "column_i64" (func $column_i64 (type $copy)))
  (import "epochd" "column_f64" (func $column_f64 (type $copy)))
  (import "epochd" "column_u8" (func $column_u8 (type $copy)))
  (import "epochd" "column_ids" (func $column_ids (type $copy)))
  (import "epochd" "dict_len" (func $dict_len (param i32) (result i32)))
  (import "epochd" "dict_entry" (func $dict_entry (param i32 i32 i32 i32) (result i32)))
  (import "epochd" "column_bytes" (func $column_bytes (param i32 i32 i32 i32) (result i32)))
  (import "epochd" "container" (func $container (param i32 i32 i32) (result i32)))
  (import "epochd" "container_len" (func $container_len (param i32) (result i32)))
  (import "epochd" "container_rows" (func $container_rows (type $copy)))
  (import "epochd" "container_offsets" (func $container_offsets (type $copy)))
  (import "epochd" "container_keys" (func $container_keys (param i32) (result i32)))
  (import "epochd" "container_values" (func $container_values (param i32 i32) (result i32)))
  (import "epochd" "emit" (func $emit (param i32 i32) (result i32)))
  (import "epochd" "fail" (func $fail (param i32 i32)))
  (import "epochd" "log" (func $log (param i32 i32 i32)))
  (import "epochd" "config_len" (func $config_len (result i32)))
  (import "epochd" "config_read" (func $config_read (param i32 i32) (result i32)))
  (import "epochd" "merge_input" (func $merge_input (param i32 i32 i32) (result i32)))
"#;

/// Copy functions by table index, for `$copy_all` (0..=4 are the column
/// copies `$dump_column` uses).
pub const CONTAINER_ROWS: i32 = 5;
pub const CONTAINER_OFFSETS: i32 = 6;

/// Helpers in WebAssembly text: copy a whole column in blocks of 7 values,
/// dump a dictionary or the byte values, dump everything about a column.
/// Each writes at `$out` and returns the new end.
///
/// `$copy_all` writes `[count: i32][values...]`, or `[code: i32]` when the
/// first call failed. `$dump_dict` / `$dump_bytes` write `[len: i32][bytes]`
/// per entry, then the (negative) code that ended the list.
pub const HELPERS: &str = r#"
  (table 7 funcref)
  (elem (i32.const 0) $column_rows $column_i64 $column_f64 $column_u8 $column_ids
        $container_rows $container_offsets)
  (func $copy_all (param $f i32) (param $h i32) (param $width i32) (param $out i32) (result i32)
    (local $start i32) (local $n i32) (local $at i32)
    (local.set $at (local.get $out))
    (local.set $out (i32.add (local.get $out) (i32.const 4)))
    (block $done
      (loop $more
        (local.set $n (call_indirect (type $copy)
          (local.get $h) (local.get $start) (i32.const 7) (local.get $out) (local.get $f)))
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (local.set $start (i32.add (local.get $start) (local.get $n)))
        (local.set $out (i32.add (local.get $out) (i32.mul (local.get $n) (local.get $width))))
        (br $more)))
    (i32.store (local.get $at)
      (select (local.get $n) (local.get $start)
        (i32.and (i32.eqz (local.get $start)) (i32.lt_s (local.get $n) (i32.const 0)))))
    (local.get $out))
  (func $dump_entries (param $dict i32) (param $h i32) (param $out i32) (result i32)
    (local $i i32) (local $len i32)
    (block $done
      (loop $more
        (local.set $len
          (if (result i32) (local.get $dict)
            (then (call $dict_entry (local.get $h) (local.get $i)
                    (i32.add (local.get $out) (i32.const 4)) (i32.const 4096)))
            (else (call $column_bytes (local.get $h) (local.get $i)
                    (i32.add (local.get $out) (i32.const 4)) (i32.const 4096)))))
        (i32.store (local.get $out) (local.get $len))
        (br_if $done (i32.lt_s (local.get $len) (i32.const 0)))
        (local.set $out (i32.add (local.get $out) (i32.add (i32.const 4) (local.get $len))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $more)))
    (i32.add (local.get $out) (i32.const 4)))
  ;; [h][len][dense][rows][ints][floats][bools][ids][dict_len][dict][bytes]
  (func $dump_column (param $h i32) (param $out i32) (result i32)
    (i32.store (local.get $out) (local.get $h))
    (i32.store offset=4 (local.get $out) (call $column_len (local.get $h)))
    (i32.store offset=8 (local.get $out) (call $column_dense (local.get $h)))
    (local.set $out (i32.add (local.get $out) (i32.const 12)))
    (local.set $out (call $copy_all (i32.const 0) (local.get $h) (i32.const 4) (local.get $out)))
    (local.set $out (call $copy_all (i32.const 1) (local.get $h) (i32.const 8) (local.get $out)))
    (local.set $out (call $copy_all (i32.const 2) (local.get $h) (i32.const 8) (local.get $out)))
    (local.set $out (call $copy_all (i32.const 3) (local.get $h) (i32.const 1) (local.get $out)))
    (local.set $out (call $copy_all (i32.const 4) (local.get $h) (i32.const 4) (local.get $out)))
    (i32.store (local.get $out) (call $dict_len (local.get $h)))
    (local.set $out (i32.add (local.get $out) (i32.const 4)))
    (local.set $out (call $dump_entries (i32.const 1) (local.get $h) (local.get $out)))
    (call $dump_entries (i32.const 0) (local.get $h) (local.get $out)))
"#;

/// Where `Job::string` places its strings.
const STRINGS_AT: u32 = 0x30_0000;

/// A call of WASI's `fd_write` of one buffer to `fd` (its result left on
/// the stack), through an iovec list at `iovec` (8 bytes, then 4 for the
/// count written); `buffer` is `(i32.const PTR) (i32.const LEN)`, as
/// [`Job::string`] gives. The module must import `$fd_write`.
pub fn fd_write(fd: i32, buffer: &str, iovec: u32) -> String {
    let words: Vec<&str> = buffer.split_whitespace().collect();
    let (ptr, len) = (
        words[1].trim_end_matches(')'),
        words[3].trim_end_matches(')'),
    );
    format!(
        "(i32.store (i32.const {iovec}) (i32.const {ptr}))
         (i32.store (i32.const {}) (i32.const {len}))
         (call $fd_write (i32.const {fd}) (i32.const {iovec}) (i32.const 1) (i32.const {}))",
        iovec + 4,
        iovec + 16
    )
}

/// A job in WebAssembly text: every import, the helpers, 4 MiB of memory,
/// `epochd_abi_version` = 1, and what the test adds.
#[derive(Default)]
pub struct Job {
    strings: Vec<u8>,
    imports: String,
    items: String,
}

impl Job {
    pub fn new() -> Job {
        Job::default()
    }

    /// Places `s` in memory; returns `(ptr, len)` as WebAssembly constants
    /// `(i32.const ptr) (i32.const len)`.
    pub fn string(&mut self, s: &str) -> String {
        let ptr = STRINGS_AT + self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        format!("(i32.const {ptr}) (i32.const {})", s.len())
    }

    /// Adds imports (placed after the ABI's, before every function).
    pub fn imports(mut self, imports: &str) -> Job {
        self.imports.push_str(imports);
        self
    }

    /// Adds module items (functions, globals).
    pub fn item(mut self, item: &str) -> Job {
        self.items.push_str(item);
        self.items.push('\n');
        self
    }

    /// Adds `epochd_run` with this body (it ends with the i32 to return).
    pub fn run(self, body: &str) -> Job {
        self.item(&format!(
            r#"(func (export "epochd_run") (result i32) (local $h i32) (local $c i32) (local $out i32) (local $n i32) {body})"#
        ))
    }

    pub fn wat(&self) -> String {
        let data: String = self.strings.iter().map(|b| format!("\\{b:02x}")).collect();
        format!(
            r#"(module {IMPORTS}
  {imports}
  (memory (export "memory") 64)
  (func (export "epochd_abi_version") (result i32) (i32.const 1))
  {HELPERS}
  (data (i32.const {STRINGS_AT}) "{data}")
  {items})"#,
            imports = self.imports,
            items = self.items
        )
    }

    pub fn compile(&self) -> JobModule {
        match runtime().compile(self.wat().as_bytes()) {
            Ok(job) => job,
            Err(e) => panic!("{e}\n{}", self.wat()),
        }
    }
}

/// Runs a job and returns its result, panicking with the error otherwise.
pub fn run_ok(job: &JobModule, epoch: &SharedEpoch, config: &[u8]) -> Vec<u8> {
    let report = job.run(&RunLimits::default(), epoch, config);
    match report.outcome {
        Ok(result) => result,
        Err(e) => panic!("run failed: {e}"),
    }
}

/// Runs a job and returns its error, panicking if it succeeded.
pub fn run_err(job: &JobModule, limits: &RunLimits, epoch: &SharedEpoch) -> (RunError, RunReport) {
    let report = job.run(limits, epoch, b"");
    match &report.outcome {
        Ok(_) => panic!("the run succeeded"),
        Err(e) => (e.clone(), report),
    }
}

/// Reads what the dumping helpers wrote.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        head
    }

    pub fn i32(&mut self) -> i32 {
        i32::from_le_bytes(self.take(4).try_into().unwrap())
    }

    pub fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take(8).try_into().unwrap())
    }

    /// `$copy_all`'s output: values of `width` bytes, or the error code.
    pub fn values<T>(&mut self, width: usize, f: impl Fn(&[u8]) -> T) -> Result<Vec<T>, i32> {
        let count = self.i32();
        if count < 0 {
            return Err(count);
        }
        Ok(self
            .take(count as usize * width)
            .chunks_exact(width)
            .map(f)
            .collect())
    }

    /// `$dump_entries`' output: the entries and the code that ended them.
    pub fn entries(&mut self) -> (Vec<Vec<u8>>, i32) {
        let mut entries = Vec::new();
        loop {
            let len = self.i32();
            if len < 0 {
                return (entries, len);
            }
            entries.push(self.take(len as usize).to_vec());
        }
    }

    /// `$dump_column`'s output.
    pub fn column(&mut self) -> ColumnDump {
        ColumnDump {
            handle: self.i32(),
            len: self.i32(),
            dense: self.i32(),
            rows: self.values(4, |b| u32::from_le_bytes(b.try_into().unwrap())),
            ints: self.values(8, |b| i64::from_le_bytes(b.try_into().unwrap())),
            floats: self.values(8, |b| f64::from_le_bytes(b.try_into().unwrap())),
            bools: self.values(1, |b| b[0]),
            ids: self.values(4, |b| u32::from_le_bytes(b.try_into().unwrap())),
            dict_len: self.i32(),
            dict: self.entries(),
            bytes: self.entries(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Everything the ABI says about one column.
#[derive(Debug)]
pub struct ColumnDump {
    pub handle: i32,
    pub len: i32,
    pub dense: i32,
    pub rows: Result<Vec<u32>, i32>,
    pub ints: Result<Vec<i64>, i32>,
    pub floats: Result<Vec<f64>, i32>,
    pub bools: Result<Vec<u8>, i32>,
    pub ids: Result<Vec<u32>, i32>,
    pub dict_len: i32,
    pub dict: (Vec<Vec<u8>>, i32),
    pub bytes: (Vec<Vec<u8>>, i32),
}

impl ColumnDump {
    /// The byte values as strings.
    pub fn strings(&self) -> Vec<String> {
        self.bytes
            .0
            .iter()
            .map(|b| String::from_utf8(b.clone()).unwrap())
            .collect()
    }
}

/// Asserts that `haystack` contains `needle`, showing both otherwise.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

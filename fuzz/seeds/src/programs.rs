//! Seeds of `abi_host_args`: driver programs (see fuzz/src/abi_ops.rs) that
//! walk the fixture epoch through every host function the way a real job
//! does, plus a few that end a run each way (trap, failure, memory, size).

// The driver's own instruction set; some of it only the driver uses.
#[allow(dead_code)]
#[path = "../../src/abi_ops.rs"]
mod abi_ops;

use abi_ops::{op, push, CONFIG_AT, OP_FAIL, OP_GROW, OP_STOP};

/// An argument: a number, or a string of the program's data (its pointer
/// and length, as two arguments).
enum Arg {
    N(i32),
    Str(&'static str),
}
use Arg::{Str, N};

/// Type codes of sdk/ABI.md.
const INT: i32 = 0;
const FLOAT: i32 = 1;
const BOOL: i32 = 2;
const STR: i32 = 3;
const NULL: i32 = 4;
const RAW: i32 = 5;

/// A program: calls, then `OP_STOP`, then the strings they name.
struct Program(Vec<(u8, Vec<Arg>)>);

impl Program {
    fn new() -> Program {
        Program(Vec::new())
    }

    fn call(mut self, name: &str, args: Vec<Arg>) -> Program {
        self.0.push((op(name), args));
        self
    }

    fn raw(mut self, op: u8, args: Vec<Arg>) -> Program {
        self.0.push((op, args));
        self
    }

    /// The config bytes, after the target's mode byte. Pointers into the
    /// data stay below 0x8000, so every one is an `i16` and the code's
    /// length does not depend on where the data lands.
    fn encode(&self, mode: u8) -> Vec<u8> {
        let code = |data_at: i32, data: &mut Vec<u8>| {
            let mut out = Vec::new();
            for (op, args) in &self.0 {
                let mut numbers = Vec::new();
                for arg in args {
                    match arg {
                        N(n) => numbers.push(*n),
                        Str(s) => {
                            numbers.push(CONFIG_AT as i32 + data_at + data.len() as i32);
                            numbers.push(s.len() as i32);
                            data.extend_from_slice(s.as_bytes());
                        }
                    }
                }
                push(&mut out, *op, &numbers);
            }
            out.push(OP_STOP);
            out
        };
        let len = code(0, &mut Vec::new()).len() as i32;
        let mut data = Vec::new();
        let mut out = vec![mode];
        out.extend(code(len, &mut data));
        out.extend(data);
        out
    }
}

/// Reads a column of `ty` at `path` (handle 0) with the copy `copy`.
fn column(path: &'static str, ty: i32, copy: &str) -> Program {
    Program::new()
        .call("column", vec![Str(path), N(ty)])
        .call("column_len", vec![N(0)])
        .call("column_dense", vec![N(0)])
        .call("column_rows", vec![N(0), N(0), N(16), N(0x100)])
        .call(copy, vec![N(0), N(0), N(16), N(0x200)])
        .call(copy, vec![N(0), N(290), N(64), N(0x200)])
        .call(copy, vec![N(0), N(400), N(1), N(0x200)])
        .call("emit", vec![N(0x200), N(128)])
}

pub fn abi_host_args() -> Vec<(&'static str, Vec<u8>)> {
    let run = 0;
    let merge = 1;
    vec![
        ("empty", Program::new().encode(run)),
        (
            "meta",
            Program::new()
                .call("epoch", vec![])
                .call("seq", vec![])
                .call("rows", vec![])
                .call("dc", vec![N(0x100), N(64)])
                .call("dc", vec![N(0x100), N(1)])
                .call("config_len", vec![])
                .call("config_read", vec![N(0x200), N(16)])
                .call("emit", vec![N(0x100), N(4)])
                .encode(run),
        ),
        ("int", column("status", INT, "column_i64").encode(run)),
        (
            "float-sparse",
            column("ms", FLOAT, "column_f64").encode(run),
        ),
        ("bool", column("ok", BOOL, "column_u8").encode(run)),
        ("null", column("none", NULL, "column_rows").encode(run)),
        ("two-types", column("either", STR, "column_ids").encode(run)),
        (
            "nested",
            column("nested.x.y", INT, "column_i64").encode(run),
        ),
        (
            "str-dict",
            column("user", STR, "column_ids")
                .call("dict_len", vec![N(0)])
                .call("dict_entry", vec![N(0), N(1), N(0x300), N(16)])
                .call("dict_entry", vec![N(0), N(9), N(0x300), N(16)])
                .call("column_bytes", vec![N(0), N(5), N(0x300), N(2)])
                .encode(run),
        ),
        (
            "str-plain",
            column("id", STR, "column_ids")
                .call("dict_len", vec![N(0)])
                .call("column_bytes", vec![N(0), N(0), N(0x300), N(16)])
                .call("column_bytes", vec![N(0), N(299), N(0x300), N(16)])
                .call("column_bytes", vec![N(0), N(300), N(0x300), N(16)])
                .encode(run),
        ),
        (
            "raw",
            column("big", RAW, "column_i64")
                .call("column_bytes", vec![N(0), N(0), N(0x300), N(16)])
                .encode(run),
        ),
        (
            "list",
            Program::new()
                .call("container", vec![Str("tags"), N(1)])
                .call("container_len", vec![N(0)])
                .call("container_rows", vec![N(0), N(0), N(8), N(0x100)])
                .call("container_offsets", vec![N(0), N(0), N(9), N(0x200)])
                .call("container_keys", vec![N(0)])
                .call("container_values", vec![N(0), N(INT)])
                .call("column_i64", vec![N(1), N(0), N(8), N(0x300)])
                .call("container_values", vec![N(0), N(RAW)])
                .call("column_bytes", vec![N(2), N(0), N(0x400), N(32)])
                .call("column_len", vec![N(0)])
                .encode(run),
        ),
        (
            "map",
            Program::new()
                .call("container", vec![Str("experiments"), N(0)])
                .call("container_len", vec![N(0)])
                .call("container_rows", vec![N(0), N(0), N(8), N(0x100)])
                .call("container_offsets", vec![N(0), N(0), N(8), N(0x200)])
                .call("container_keys", vec![N(0)])
                .call("column_ids", vec![N(1), N(0), N(8), N(0x300)])
                .call("dict_entry", vec![N(1), N(3), N(0x400), N(16)])
                .call("container_values", vec![N(0), N(INT)])
                .call("column_i64", vec![N(2), N(60), N(8), N(0x500)])
                .encode(run),
        ),
        (
            "logs-and-fail",
            Program::new()
                .call("log", vec![N(2), Str("hello")])
                .call("log", vec![N(0), Str("an error \u{e9}")])
                .call("log", vec![N(9), Str("")])
                .call("fail", vec![Str("gave up")])
                .raw(OP_FAIL, vec![])
                .encode(run),
        ),
        (
            "merge",
            Program::new()
                .call("merge_input", vec![N(0), N(0x100), N(64)])
                .call("merge_input", vec![N(1), N(0x200), N(4)])
                .call("merge_input", vec![N(2), N(0x200), N(4)])
                .call("rows", vec![])
                .call("column", vec![Str("status"), N(INT)])
                .call("emit", vec![N(0x100), N(8)])
                .encode(merge),
        ),
        (
            "merge-input-in-run",
            Program::new()
                .call("merge_input", vec![N(0), N(0x100), N(64)])
                .encode(run),
        ),
        (
            "grow",
            Program::new()
                .raw(OP_GROW, vec![N(1)])
                .call("column", vec![Str("status"), N(INT)])
                .call("column_i64", vec![N(0), N(0), N(300), N(0x20000 - 8)])
                .raw(OP_GROW, vec![N(100)])
                .encode(run),
        ),
        (
            "too-large",
            Program::new().call("emit", vec![N(0), N(8192)]).encode(run),
        ),
        (
            "out-of-bounds",
            Program::new()
                .call("column", vec![Str("status"), N(INT)])
                .call("column_i64", vec![N(0), N(0), N(-1), N(0)])
                .encode(run),
        ),
    ]
}

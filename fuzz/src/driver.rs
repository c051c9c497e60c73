//! The `abi_host_args` driver: a job, in WebAssembly text, that imports
//! every ABI v1 host function and calls them as its config says (the
//! instruction set is in abi_ops.rs), ignoring what they return.

use std::fmt::Write;

use crate::abi_ops::{CONFIG_AT, CONFIG_CAP, FUNCTIONS, OP_FAIL, OP_GROW, OP_STOP, OP_TRAP};

/// The driver's text. Its `epochd_run` and `epochd_merge` both interpret
/// the config.
pub fn wat() -> String {
    let mut imports = String::new();
    for (name, params, result) in FUNCTIONS {
        let params = " i32".repeat(*params);
        let params = if params.is_empty() {
            String::new()
        } else {
            format!("(param{params})")
        };
        let result = result.map(|r| format!("(result {r})")).unwrap_or_default();
        writeln!(
            imports,
            r#"  (import "epochd" "{name}" (func ${name} {params} {result}))"#
        )
        .expect("writing to a String");
    }
    format!(
        r#"(module
{imports}
  (memory (export "memory") 2)
  (global $pc (mut i32) (i32.const 0))
  (func (export "epochd_abi_version") (result i32) (i32.const 1))
  ;; The next byte of the program.
  (func $byte (result i32) (local $v i32)
    (local.set $v (i32.load8_u offset={CONFIG_AT} (global.get $pc)))
    (global.set $pc (i32.add (global.get $pc) (i32.const 1)))
    (local.get $v))
  ;; Argument $i: an i32 when bit $i of $flags is set, else an i16.
  (func $arg (param $flags i32) (param $i i32) (result i32) (local $v i32)
    (if (i32.and (local.get $flags) (i32.shl (i32.const 1) (local.get $i)))
      (then
        (local.set $v (i32.load offset={CONFIG_AT} (global.get $pc)))
        (global.set $pc (i32.add (global.get $pc) (i32.const 4))))
      (else
        (local.set $v (i32.load16_s offset={CONFIG_AT} (global.get $pc)))
        (global.set $pc (i32.add (global.get $pc) (i32.const 2)))))
    (local.get $v))
  (func $interpret (result i32) (local $n i32) (local $op i32) (local $f i32)
    (local.set $n (call $config_read (i32.const {CONFIG_AT}) (i32.const {CONFIG_CAP})))
    (if (i32.gt_u (local.get $n) (i32.const {CONFIG_CAP}))
      (then (local.set $n (i32.const {CONFIG_CAP}))))
    (global.set $pc (i32.const 0))
    (block $end
      (loop $next
        (br_if $end (i32.ge_u (global.get $pc) (local.get $n)))
        (local.set $op (i32.and (call $byte) (i32.const 31)))
        (local.set $f (call $byte))
{dispatch}))
    (i32.const 0))
  (func (export "epochd_run") (result i32) (call $interpret))
  (func (export "epochd_merge") (result i32) (call $interpret)))"#,
        dispatch = dispatch()
    )
}

/// A `br_table` over the 32 ops: block `$cK` ends right before op K's code.
fn dispatch() -> String {
    let ops = usize::from(OP_STOP) + 1;
    let mut s = String::new();
    for k in (0..ops).rev() {
        writeln!(s, "        (block $c{k}").expect("writing to a String");
    }
    s.push_str("          (br_table");
    for k in 0..ops {
        write!(s, " $c{k}").expect("writing to a String");
    }
    s.push_str(" (local.get $op))\n");
    for k in 0..ops {
        writeln!(s, "        ) {}", op_code(k as u8)).expect("writing to a String");
    }
    s
}

/// What op `k` does, ending with a jump to the next instruction (or out).
fn op_code(k: u8) -> String {
    let arg = |i: usize| format!("(call $arg (local.get $f) (i32.const {i}))");
    match k {
        k if usize::from(k) < FUNCTIONS.len() => {
            let (name, params, result) = FUNCTIONS[usize::from(k)];
            let args: String = (0..params).map(arg).collect::<Vec<_>>().join(" ");
            let call = format!("(call ${name} {args})");
            match result {
                Some(_) => format!("(drop {call}) (br $next)"),
                None => format!("{call} (br $next)"),
            }
        }
        OP_GROW => format!("(drop (memory.grow {})) (br $next)", arg(0)),
        OP_FAIL => "(return (i32.const 1))".into(),
        OP_TRAP => "(unreachable)".into(),
        _ => "(br $end)".into(),
    }
}

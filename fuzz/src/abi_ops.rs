//! The instruction set of the `abi_host_args` driver: how its config bytes
//! name host functions and their arguments. Shared with the seed generator
//! (`seeds/`, which includes this file by path), so seeds and driver agree.
//!
//! A program is a sequence of instructions, read from the config:
//! `op: u8, flags: u8, args...`. `op % 32` picks the instruction: below
//! [`FUNCTIONS`]`.len()` a host function, then [`OP_GROW`], [`OP_FAIL`],
//! [`OP_TRAP`]; anything else ends the program (the entry point returns 0).
//! Each argument is an `i16` (sign-extended) when bit `i` of `flags` is
//! clear, a full `i32` when it is set, both little-endian: small pointers,
//! lengths and handles cost the fuzzer two bytes, and any `i32` stays
//! reachable.

/// Every ABI v1 host function (`sdk/ABI.md`, in its order): name, number
/// of `i32` parameters, result type.
pub const FUNCTIONS: &[(&str, usize, Option<&str>)] = &[
    ("epoch", 0, Some("i64")),
    ("seq", 0, Some("i32")),
    ("rows", 0, Some("i32")),
    ("dc", 2, Some("i32")),
    ("column", 3, Some("i32")),
    ("column_len", 1, Some("i32")),
    ("column_dense", 1, Some("i32")),
    ("column_rows", 4, Some("i32")),
    ("column_i64", 4, Some("i32")),
    ("column_f64", 4, Some("i32")),
    ("column_u8", 4, Some("i32")),
    ("column_ids", 4, Some("i32")),
    ("dict_len", 1, Some("i32")),
    ("dict_entry", 4, Some("i32")),
    ("column_bytes", 4, Some("i32")),
    ("container", 3, Some("i32")),
    ("container_len", 1, Some("i32")),
    ("container_rows", 4, Some("i32")),
    ("container_offsets", 4, Some("i32")),
    ("container_keys", 1, Some("i32")),
    ("container_values", 2, Some("i32")),
    ("emit", 2, Some("i32")),
    ("fail", 2, None),
    ("log", 3, None),
    ("config_len", 0, Some("i32")),
    ("config_read", 2, Some("i32")),
    ("merge_input", 3, Some("i32")),
];

/// `memory.grow` by its one argument (pages); the result is dropped.
pub const OP_GROW: u8 = FUNCTIONS.len() as u8;
/// Return 1 from the entry point: the run fails.
pub const OP_FAIL: u8 = OP_GROW + 1;
/// `unreachable`: the guest traps.
pub const OP_TRAP: u8 = OP_FAIL + 1;
/// Ends the program (as does any op from here to 31).
pub const OP_STOP: u8 = 31;

/// Where the driver copies its config (the program) in its memory, and the
/// most it copies. Below 32 KiB, so `i16` pointers reach into it.
pub const CONFIG_AT: u32 = 0x4000;
/// See [`CONFIG_AT`].
pub const CONFIG_CAP: u32 = 0x4000;

/// The op of host function `name`. Panics on a name outside the ABI.
pub fn op(name: &str) -> u8 {
    FUNCTIONS
        .iter()
        .position(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("{name} is not an ABI v1 function")) as u8
}

/// Appends one instruction: `op` with `args`, each in its shortest form.
pub fn push(program: &mut Vec<u8>, op: u8, args: &[i32]) {
    let mut flags = 0u8;
    let mut bytes = Vec::new();
    for (i, &arg) in args.iter().enumerate() {
        match i16::try_from(arg) {
            Ok(short) => bytes.extend_from_slice(&short.to_le_bytes()),
            Err(_) => {
                flags |= 1 << i;
                bytes.extend_from_slice(&arg.to_le_bytes());
            }
        }
    }
    program.push(op);
    program.push(flags);
    program.extend_from_slice(&bytes);
}

//! The allocator's settings for a process that decodes an epoch every second.

/// `mi_option_purge_delay` (`mimalloc.h`, versions 2 and 3), which the Rust
/// bindings do not name: the enum member just before `use_numa_nodes`,
/// which they do; the assertion fails the build if the enum changes there.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const _: () = assert!(libmimalloc_sys::mi_option_use_numa_nodes == MI_OPTION_PURGE_DELAY + 1);

/// How long freed memory stays with the process before it goes back to the
/// kernel, in milliseconds. mimalloc's default (10 ms) makes every decode of
/// a once-a-second epoch fault its pages in again (0.49 vs 0.59 M events/s
/// per core, docs/BENCHMARKS.md); two seconds keeps them from one epoch to
/// the next and still hands them back when the node is idle.
pub const PURGE_DELAY_MS: i64 = 2000;

/// Applies the settings. Call it first thing in `main`, before other
/// threads start.
pub fn tune() {
    // SAFETY: `mi_option_set` stores an option value; it is not thread-safe,
    // which is why this runs at the start of `main`, before any other thread
    // of ours exists. The option id is checked at compile time above.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _) };
}

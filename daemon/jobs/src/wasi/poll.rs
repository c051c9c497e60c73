//! `poll_oneoff`: every wait returns at once. A sleep (a clock
//! subscription) moves the run's virtual clock to its end instead of
//! blocking, so a runtime waiting on a timer carries on, and the time it
//! reads afterwards is the same on every node.

use super::{errno, region, with_memory, Ctx, Res, WasiState, CLOCKS, STDERR, STDIN, STDOUT};

/// Sizes and offsets of `subscription` and `event` (preview 1 witx).
const SUBSCRIPTION: u64 = 48;
const EVENT: u64 = 32;
const TAG_CLOCK: u8 = 0;
const TAG_FD_READ: u8 = 1;
const TAG_FD_WRITE: u8 = 2;
const ABSTIME: u16 = 1;
/// `eventrwflags.fd_readwrite_hangup`: the stream is at its end.
const HANGUP: u16 = 1;

/// What one subscription asks for.
enum Wait {
    /// A clock reaching this time (absolute, in the clock's terms).
    Until { clock: u32, at: u64 },
    /// Ready at once, with this error (0 = ready); `hangup` for the end of
    /// standard input.
    Now { error: u16, hangup: bool },
}

pub(super) fn poll_oneoff(
    mut caller: Ctx<'_>,
    subscriptions: i32,
    events: i32,
    count: i32,
    nevents: i32,
) -> Res<i32> {
    if count == 0 {
        return Ok(errno::INVAL);
    }
    with_memory(&mut caller, |mem, state| {
        let n = u64::from(count as u32);
        let input = region(
            mem,
            subscriptions,
            n * SUBSCRIPTION,
            "poll_oneoff",
            "subscriptions",
        )?;
        let output = region(mem, events, n * EVENT, "poll_oneoff", "events")?;
        let wasi = &mut state.wasi;
        let before = wasi.time.elapsed_ns();
        // Two passes over the guest's list, so nothing the size of it is
        // allocated here. First: is anything ready at once, and if not,
        // when does the first clock fire?
        let mut ready_now = false;
        let mut wake = u64::MAX;
        for s in mem[input.clone()].chunks_exact(SUBSCRIPTION as usize) {
            match parse(s, wasi, before) {
                Wait::Now { .. } => ready_now = true,
                Wait::Until { clock, at } => {
                    wake = wake.min(at.saturating_sub(wasi.clock(clock)));
                }
            }
        }
        // Nothing ready: sleep, virtually, until the first clock.
        if !ready_now {
            wasi.time.advance_to(before.saturating_add(wake));
        }
        let mut written = 0usize;
        for i in 0..n as usize {
            let at = input.start + i * SUBSCRIPTION as usize;
            let mut s = [0u8; SUBSCRIPTION as usize];
            s.copy_from_slice(&mem[at..at + SUBSCRIPTION as usize]);
            let (error, hangup) = match parse(&s, wasi, before) {
                Wait::Now { error, hangup } => (error, hangup),
                Wait::Until { clock, at } if at <= wasi.clock(clock) => (0, false),
                _ => continue,
            };
            let at = output.start + written * EVENT as usize;
            let event = &mut mem[at..at + EVENT as usize];
            event.fill(0);
            event[0..8].copy_from_slice(&s[0..8]);
            event[8..10].copy_from_slice(&error.to_le_bytes());
            event[10] = s[8];
            if hangup {
                event[24..26].copy_from_slice(&HANGUP.to_le_bytes());
            }
            written += 1;
        }
        super::write_u32(mem, nevents, written as u32, "poll_oneoff")?;
        Ok(errno::SUCCESS)
    })
}

/// What one subscription waits for. A relative timeout counts from the
/// clock as it was when the call began (`before`: its virtual time then).
fn parse(s: &[u8], wasi: &WasiState, before: u64) -> Wait {
    let tag = s[8];
    match tag {
        TAG_CLOCK => {
            let clock = u32::from_le_bytes([s[16], s[17], s[18], s[19]]);
            let timeout = u64_at(s, 24);
            let flags = u16::from_le_bytes([s[40], s[41]]);
            if clock >= CLOCKS {
                Wait::Now {
                    error: errno::INVAL as u16,
                    hangup: false,
                }
            } else if flags & ABSTIME != 0 {
                Wait::Until { clock, at: timeout }
            } else {
                Wait::Until {
                    clock,
                    at: wasi.clock_at(clock, before).saturating_add(timeout),
                }
            }
        }
        TAG_FD_READ | TAG_FD_WRITE => {
            let fd = i32::from_le_bytes([s[16], s[17], s[18], s[19]]);
            // Writes to the log are always possible; standard input is
            // empty, so a read is ready at once (at its end), as fd_read
            // answers; any other descriptor does not exist.
            let ready = match tag {
                TAG_FD_WRITE => fd == STDOUT || fd == STDERR,
                _ => fd == STDIN,
            };
            Wait::Now {
                error: if ready { 0 } else { errno::BADF as u16 },
                hangup: ready && tag == TAG_FD_READ,
            }
        }
        _ => Wait::Now {
            error: errno::INVAL as u16,
            hangup: false,
        },
    }
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

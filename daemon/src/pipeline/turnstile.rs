//! Keeps commits in delivery order where it matters: commits are read and
//! decoded several at once, and a later one may be ready first; its runs
//! wait (briefly) for the earlier ones to be queued, so each job sees its
//! commits in order and its stream sends its epochs in order.
//!
//! The wait is bounded: a commit whose predecessor is slow (a large
//! epoch, no room in the decode budget yet) goes ahead after
//! [`MAX_WAIT`], so no commit can hold another forever (an earlier one
//! queued late is then sent as a `late` result, as a late dc would be).

use std::collections::BTreeSet;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// The longest a commit waits for the commits before it.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// Tickets handed out in delivery order; a ticket's turn comes when every
/// earlier ticket has passed.
#[derive(Default)]
pub(crate) struct Turnstile {
    state: Mutex<State>,
    passed: Notify,
}

#[derive(Default)]
struct State {
    /// The next ticket handed out.
    issued: u64,
    /// Every ticket below this one has passed.
    next: u64,
    /// Tickets at or above `next` that have passed.
    ahead: BTreeSet<u64>,
}

/// A ticket; it passes when dropped, whatever became of its commit.
pub(crate) struct Ticket<'t> {
    turnstile: &'t Turnstile,
    number: u64,
}

impl Turnstile {
    /// The next ticket.
    pub(crate) fn ticket(&self) -> Ticket<'_> {
        let mut state = self.state.lock();
        let number = state.issued;
        state.issued += 1;
        Ticket {
            turnstile: self,
            number,
        }
    }

    fn pass(&self, number: u64) {
        let mut state = self.state.lock();
        state.ahead.insert(number);
        loop {
            let next = state.next;
            if !state.ahead.remove(&next) {
                break;
            }
            state.next = next + 1;
        }
        drop(state);
        self.passed.notify_waiters();
    }
}

impl Ticket<'_> {
    /// Waits until every earlier ticket has passed, or [`MAX_WAIT`].
    pub(crate) async fn turn(&self) {
        let _ = tokio::time::timeout(MAX_WAIT, async {
            loop {
                let passed = self.turnstile.passed.notified();
                if self.turnstile.state.lock().next >= self.number {
                    return;
                }
                passed.await;
            }
        })
        .await;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.turnstile.pass(self.number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(turnstile: &Turnstile) -> u64 {
        turnstile.state.lock().next
    }

    #[test]
    fn the_turn_moves_only_past_tickets_that_all_passed() {
        let turnstile = Turnstile::default();
        let (first, second, third) = (turnstile.ticket(), turnstile.ticket(), turnstile.ticket());
        drop(third);
        assert_eq!(next(&turnstile), 0, "the third passed, the first has not");
        drop(first);
        assert_eq!(next(&turnstile), 1);
        drop(second);
        assert_eq!(next(&turnstile), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_ticket_whose_predecessors_passed_goes_at_once() {
        let turnstile = Turnstile::default();
        drop(turnstile.ticket());
        let second = turnstile.ticket();
        let started = tokio::time::Instant::now();
        second.turn().await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_earlier_ticket_holds_a_later_one_for_at_most_the_max_wait() {
        let turnstile = Turnstile::default();
        let _slow = turnstile.ticket();
        let later = turnstile.ticket();
        let started = tokio::time::Instant::now();
        later.turn().await;
        assert!(started.elapsed() >= MAX_WAIT);
    }
}

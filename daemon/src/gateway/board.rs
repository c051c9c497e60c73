//! What the gateway knows: per (job, epoch) the parts received, keyed
//! (dc, node, seq) so a part is never merged twice; per node its closure,
//! its connection and when it was registered; and the rule that decides
//! when an epoch goes out complete, partial, or as a correction
//! (docs/CLUSTER.md, "The gateway's contract").

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::results::{Outcome, ResultRecord};

/// Why an expected node's part is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// It is no longer registered in etcd: its lease ran out.
    LeaseGone,
    /// It is registered, but its parts stream does not answer.
    Unreachable,
    /// It is registered and connected, but has not closed the epoch in time.
    TimedOut,
}

impl Why {
    /// As the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::LeaseGone => "lease_gone",
            Why::Unreachable => "unreachable",
            Why::TimedOut => "timed_out",
        }
    }
}

/// One node as the gateway sees it.
#[derive(Debug, Default)]
struct NodeView {
    /// The newest epoch it said it has closed.
    closed: Option<u64>,
    /// Its parts stream is connected.
    connected: bool,
    /// Registered at the last membership read.
    live: bool,
    /// The epochs during which it was registered, as (first, last) spans.
    seen: Vec<(u64, u64)>,
}

/// One node as the gateway last saw it, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// Its id.
    pub node_id: String,
    /// The newest epoch it said it has closed, if it said any.
    pub closed_through: Option<u64>,
    /// Its parts stream is connected.
    pub connected: bool,
    /// Registered (its lease alive) at the last membership read.
    pub live: bool,
}

/// A job's epoch being assembled.
#[derive(Debug, Default)]
struct EpochParts {
    parts: BTreeMap<(String, String, u32), ResultRecord>,
    /// Since when some expected node has closed through it: the wait for
    /// the others starts then.
    waiting_since: Option<Instant>,
    /// The last version emitted: (version, complete).
    emitted: Option<(u32, bool)>,
    /// Nodes whose parts changed since then, and since when.
    dirty: BTreeSet<String>,
    dirty_since: Option<Instant>,
}

/// An epoch to emit.
#[derive(Debug)]
pub struct Decision {
    /// The job.
    pub job: String,
    /// The epoch.
    pub epoch: u64,
    /// Its parts, in fold order: (dc, node, seq).
    pub records: Vec<ResultRecord>,
    /// The node of each of `records`.
    pub nodes: Vec<String>,
    /// Every expected node closed through it.
    pub complete: bool,
    /// The expected nodes that have not, and why.
    pub missing: Vec<(String, Why)>,
    /// Nodes expected.
    pub expected: usize,
    /// Nodes whose parts (or closure) are in.
    pub received: usize,
    /// The version emitted before, if any.
    pub previous: Option<u32>,
    /// How long it waited for its last node (0 when none was awaited).
    pub waited: Duration,
}

/// The gateway's state.
#[derive(Debug, Default)]
pub struct Board {
    epochs: BTreeMap<(String, u64), EpochParts>,
    nodes: BTreeMap<String, NodeView>,
    /// The epoch of the last membership read; `None` before the first.
    polled: Option<u64>,
    /// Epochs at or before this are forgotten: a part of one is ignored.
    floor: u64,
}

impl Board {
    /// A board that ignores parts of epochs before `from`.
    pub fn new(from: u64) -> Board {
        Board {
            floor: from.saturating_sub(1),
            ..Board::default()
        }
    }

    /// A part from `node`; false when it changes nothing (the same part
    /// again) or its epoch is forgotten.
    pub fn part(&mut self, node: &str, record: ResultRecord) -> bool {
        if record.epoch <= self.floor {
            return false;
        }
        let entry = self
            .epochs
            .entry((record.job.clone(), record.epoch))
            .or_default();
        let key = (record.dc.clone(), node.to_owned(), record.seq);
        if entry
            .parts
            .get(&key)
            .is_some_and(|old| same_outcome(&old.outcome, &record.outcome))
        {
            return false;
        }
        entry.parts.insert(key, record);
        if entry.emitted.is_some() {
            entry.dirty.insert(node.to_owned());
            entry.dirty_since.get_or_insert_with(Instant::now);
        }
        true
    }

    /// `node` has closed through `through`.
    pub fn closed(&mut self, node: &str, through: u64) {
        let view = self.nodes.entry(node.to_owned()).or_default();
        view.closed = Some(view.closed.map_or(through, |c| c.max(through)));
    }

    /// Where `node`'s closure stands (to resume its stream from).
    pub fn closed_of(&self, node: &str) -> Option<u64> {
        self.nodes.get(node).and_then(|n| n.closed)
    }

    /// Every node the gateway knows of, by id: what `GET /v1/cluster`
    /// shows of each.
    pub fn node_states(&self) -> Vec<NodeState> {
        self.nodes
            .iter()
            .map(|(id, v)| NodeState {
                node_id: id.clone(),
                closed_through: v.closed,
                connected: v.connected,
                live: v.live,
            })
            .collect()
    }

    /// Whether `node`'s parts stream is connected.
    pub fn connected(&mut self, node: &str, connected: bool) {
        self.nodes.entry(node.to_owned()).or_default().connected = connected;
    }

    /// The nodes registered at `epoch` (a membership read).
    pub fn members(&mut self, epoch: u64, ids: &[String]) {
        let first = self.polled.is_none();
        for view in self.nodes.values_mut() {
            view.live = false;
        }
        for id in ids {
            let view = self.nodes.entry(id.clone()).or_default();
            view.live = true;
            match view.seen.last_mut() {
                // Seen at the read before: still registered since.
                Some((_, last)) if Some(*last) == self.polled || *last >= epoch => {
                    *last = (*last).max(epoch)
                }
                // The first read stands for every epoch before it too.
                _ if first => view.seen.push((0, epoch)),
                _ => view.seen.push((epoch, epoch)),
            }
        }
        self.polled = Some(epoch);
    }

    /// The nodes expected to have a say in `epoch`: those registered when
    /// it was current, and any that sent a part of it.
    fn expected(&self, epoch: u64, parts: &EpochParts) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .nodes
            .iter()
            .filter(|(_, v)| v.seen.iter().any(|(a, b)| *a <= epoch && epoch <= *b))
            .map(|(id, _)| id.clone())
            .collect();
        out.extend(parts.parts.keys().map(|(_, node, _)| node.clone()));
        out
    }

    fn why(&self, node: &str) -> Why {
        match self.nodes.get(node) {
            Some(v) if !v.live => Why::LeaseGone,
            Some(v) if !v.connected => Why::Unreachable,
            Some(_) => Why::TimedOut,
            None => Why::LeaseGone,
        }
    }

    /// The epochs to emit now; `wait(job)` is how long a job's epoch waits
    /// for its last nodes.
    pub fn decide(&mut self, now: Instant, wait: impl Fn(&str) -> Duration) -> Vec<Decision> {
        let Some(polled) = self.polled else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let keys: Vec<(String, u64)> = self.epochs.keys().cloned().collect();
        for (job, epoch) in keys {
            // Who was registered while it was current is known only once a
            // membership read came after it.
            if polled <= epoch {
                continue;
            }
            let ep = &self.epochs[&(job.clone(), epoch)];
            let expected = self.expected(epoch, ep);
            let closed = |n: &String| {
                self.nodes
                    .get(n)
                    .and_then(|v| v.closed)
                    .is_some_and(|c| c >= epoch)
            };
            let missing: Vec<(String, Why)> = expected
                .iter()
                .filter(|n| !closed(n))
                .map(|n| (n.clone(), self.why(n)))
                .collect();
            let complete = missing.is_empty();
            let any_closed = missing.len() < expected.len();
            let dirty_in = ep.dirty.iter().all(closed);
            let ep = self.epochs.get_mut(&(job.clone(), epoch)).expect("a key");
            if any_closed && ep.waiting_since.is_none() {
                ep.waiting_since = Some(now);
            }
            let waited_out =
                |since: Option<Instant>| since.is_some_and(|s| now.duration_since(s) >= wait(&job));
            let go = match ep.emitted {
                None => complete || waited_out(ep.waiting_since),
                Some((_, was_complete)) => {
                    let dirty = !ep.dirty.is_empty();
                    (complete && (dirty || !was_complete))
                        // A correction goes once the nodes that sent it
                        // have closed the epoch (all their parts are in),
                        // or after the wait; never back to partial over a
                        // complete version.
                        || (!was_complete && dirty && (dirty_in || waited_out(ep.dirty_since)))
                }
            };
            if !go {
                continue;
            }
            let mut records = Vec::with_capacity(ep.parts.len());
            let mut nodes = Vec::with_capacity(ep.parts.len());
            for ((_, node, _), r) in &ep.parts {
                records.push(r.clone());
                nodes.push(node.clone());
            }
            let waited = ep
                .waiting_since
                .map_or(Duration::ZERO, |s| now.duration_since(s));
            out.push(Decision {
                job: job.clone(),
                epoch,
                records,
                nodes,
                complete,
                received: expected.len() - missing.len(),
                expected: expected.len(),
                missing,
                previous: ep.emitted.map(|(v, _)| v),
                waited,
            });
            ep.dirty.clear();
            ep.dirty_since = None;
        }
        out
    }

    /// `version` of `job`'s `epoch` went out (or was found stored).
    pub fn emitted(&mut self, job: &str, epoch: u64, version: u32, complete: bool) {
        if let Some(ep) = self.epochs.get_mut(&(job.to_owned(), epoch)) {
            ep.emitted = Some((version, complete));
        }
    }

    /// Forgets epochs before `epoch`; their later parts are ignored.
    pub fn forget_before(&mut self, epoch: u64) {
        if epoch == 0 || epoch <= self.floor + 1 {
            return;
        }
        self.floor = epoch - 1;
        self.epochs.retain(|(_, e), _| *e >= epoch);
        for view in self.nodes.values_mut() {
            view.seen.retain(|(_, last)| *last >= epoch);
        }
    }
}

/// Two runs gave the same answer (their timings may differ: a re-run after
/// a restart is the same part).
fn same_outcome(a: &Outcome, b: &Outcome) -> bool {
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(epoch: u64, dc: &str, result: &[u8]) -> ResultRecord {
        ResultRecord::ok_for_test("j", epoch, dc, result)
    }

    const WAIT: Duration = Duration::from_secs(3);

    #[test]
    fn complete_once_every_node_closed_and_never_twice_for_the_same_part() {
        let mut b = Board::new(0);
        let t = Instant::now();
        b.members(5, &["a".into(), "b".into()]);
        b.members(11, &["a".into(), "b".into()]);
        assert!(b.part("a", part(10, "x", b"1")));
        assert!(!b.part("a", part(10, "x", b"1")), "the same part again");
        b.closed("a", 10);
        assert!(b.decide(t, |_| WAIT).is_empty(), "b has not closed");
        b.closed("b", 10);
        let d = b.decide(t, |_| WAIT);
        assert_eq!(d.len(), 1);
        assert!(d[0].complete);
        assert_eq!((d[0].received, d[0].expected), (2, 2));
        b.emitted("j", 10, 1, true);
        assert!(b.decide(t, |_| WAIT).is_empty());
    }

    #[test]
    fn partial_after_the_wait_then_a_correction_when_the_node_is_back() {
        let mut b = Board::new(0);
        let t = Instant::now();
        b.members(9, &["a".into(), "b".into()]);
        b.members(10, &["a".into(), "b".into()]);
        b.members(11, &["a".into()]);
        b.connected("a", true);
        b.part("a", part(10, "x", b"1"));
        b.closed("a", 10);
        assert!(b.decide(t, |_| WAIT).is_empty(), "within the wait");
        let d = b.decide(t + WAIT, |_| WAIT);
        assert_eq!(d.len(), 1);
        assert!(!d[0].complete);
        assert_eq!(d[0].missing, [("b".to_owned(), Why::LeaseGone)]);
        b.emitted("j", 10, 1, false);
        // b comes back with a part of epoch 10, then closes it.
        b.members(12, &["a".into(), "b".into()]);
        assert!(b.part("b", part(10, "x", b"2")));
        assert!(
            b.decide(t + WAIT, |_| WAIT).is_empty(),
            "b has not closed 10"
        );
        b.closed("b", 10);
        let d = b.decide(t + WAIT, |_| WAIT);
        assert_eq!(d.len(), 1);
        assert!(d[0].complete);
        assert_eq!(d[0].previous, Some(1));
        assert_eq!(d[0].records.len(), 2);
        assert_eq!(d[0].nodes, ["a", "b"], "folded in (dc, node, seq) order");
    }
}

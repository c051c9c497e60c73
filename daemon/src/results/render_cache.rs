//! Rendered epochs of the jobs' streams, kept so that many subscribers
//! catching up over the same stored epochs (all of them after a restart,
//! say) run each epoch's merge once, not once each.
//!
//! An entry serves only the job instance that rendered it (a job deleted and
//! submitted again under its name has a new module, and misses) and only
//! the same records (a late result, or a backfill's new run, changes their
//! fingerprint, and misses). Entries go oldest first beyond a byte budget.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};

use super::render::Rendered;
use super::ResultRecord;

/// A fingerprint of an epoch's records: every field of every record.
pub(crate) fn fingerprint(records: &[ResultRecord]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
    records.hash(&mut hasher);
    hasher.finish()
}

/// (job name, epoch).
type Key = (String, u64);

struct Entry<J> {
    job: Weak<J>,
    fingerprint: u64,
    value: Rendered,
    bytes: usize,
    /// Which position of the key in `RenderCache::order` is this entry's.
    stamp: u64,
}

/// The cache; see the module docs. `J` is the job type (generic for tests).
pub(crate) struct RenderCache<J> {
    entries: HashMap<Key, Entry<J>>,
    /// Keys with their entry's stamp, oldest first. A key put again is
    /// here more than once; only the position with its entry's stamp
    /// counts, the others are skipped (and compacted away).
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    max_bytes: usize,
    /// Puts so far: the stamp that tells a key's last position in `order`.
    stamp: u64,
}

impl<J> RenderCache<J> {
    pub(crate) fn new(max_bytes: usize) -> RenderCache<J> {
        RenderCache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_bytes,
            stamp: 0,
        }
    }

    /// The rendering of (`name`, `epoch`) if `job` made it from records
    /// with this `fingerprint`.
    pub(crate) fn get(
        &self,
        name: &str,
        epoch: u64,
        job: &Arc<J>,
        fingerprint: u64,
    ) -> Option<Rendered> {
        let entry = self.entries.get(&(name.to_owned(), epoch))?;
        (entry.fingerprint == fingerprint && Weak::ptr_eq(&entry.job, &Arc::downgrade(job)))
            .then(|| entry.value.clone())
    }

    /// Keeps `value`, `bytes` long once serialised, as the rendering of
    /// (`name`, `epoch`) by `job` from records with this `fingerprint`.
    pub(crate) fn put(
        &mut self,
        name: &str,
        epoch: u64,
        job: &Arc<J>,
        fingerprint: u64,
        value: Rendered,
        bytes: usize,
    ) {
        if bytes > self.max_bytes {
            return;
        }
        let key = (name.to_owned(), epoch);
        self.stamp += 1;
        self.order.push_back((key.clone(), self.stamp));
        let entry = Entry {
            job: Arc::downgrade(job),
            fingerprint,
            value,
            bytes,
            stamp: self.stamp,
        };
        self.bytes += bytes;
        if let Some(old) = self.entries.insert(key, entry) {
            self.bytes -= old.bytes;
        }
        self.evict();
    }

    /// Drops the oldest entries until the budget holds.
    fn evict(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((key, stamp)) = self.order.pop_front() else {
                return;
            };
            if self.entries.get(&key).is_some_and(|e| e.stamp == stamp) {
                let old = self.entries.remove(&key).expect("just seen");
                self.bytes -= old.bytes;
            }
        }
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(key, stamp)| entries.get(key).is_some_and(|e| e.stamp == *stamp));
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(n: u64) -> Rendered {
        format!("{{\"n\":{n}}}").into()
    }

    #[test]
    fn serves_only_the_same_job_instance_and_records() {
        let mut cache = RenderCache::new(1 << 20);
        let (job, other) = (Arc::new(1u8), Arc::new(1u8));
        cache.put("count", 7, &job, 42, value(1), 10);
        assert_eq!(cache.get("count", 7, &job, 42), Some(value(1)));
        assert_eq!(cache.get("count", 7, &job, 43), None, "other records");
        assert_eq!(
            cache.get("count", 7, &other, 42),
            None,
            "a job submitted again"
        );
        assert_eq!(cache.get("count", 8, &job, 42), None, "another epoch");
        assert_eq!(cache.get("latency", 7, &job, 42), None, "another job");
        // Renderings of new records replace the old.
        cache.put("count", 7, &job, 43, value(2), 10);
        assert_eq!(cache.get("count", 7, &job, 43), Some(value(2)));
        assert_eq!(cache.get("count", 7, &job, 42), None);
        assert_eq!(cache.bytes(), 10);
    }

    #[test]
    fn the_oldest_go_beyond_the_budget() {
        let mut cache = RenderCache::new(100);
        let job = Arc::new(0u8);
        for epoch in 0..10 {
            cache.put("j", epoch, &job, 1, value(epoch), 30);
            assert!(cache.bytes() <= 100);
        }
        let kept: Vec<u64> = (0..10)
            .filter(|e| cache.get("j", *e, &job, 1).is_some())
            .collect();
        assert_eq!(kept, [7, 8, 9]);
        // Put again, an entry is young again: the next eviction takes 8.
        cache.put("j", 7, &job, 1, value(7), 30);
        cache.put("j", 10, &job, 1, value(10), 30);
        let kept: Vec<u64> = (0..11)
            .filter(|e| cache.get("j", *e, &job, 1).is_some())
            .collect();
        assert_eq!(kept, [7, 9, 10]);
        // Larger than the whole budget: not kept, nothing evicted.
        cache.put("j", 11, &job, 1, value(11), 101);
        assert_eq!(cache.get("j", 11, &job, 1), None);
        assert_eq!(cache.bytes(), 90);
    }

    #[test]
    fn replaced_keys_do_not_pile_up() {
        let mut cache = RenderCache::new(1 << 20);
        let job = Arc::new(0u8);
        for round in 0..1000 {
            cache.put("j", 1, &job, round, value(round), 10);
        }
        assert!(cache.order.len() <= 2 * cache.entries.len() + 64 + 1);
        assert_eq!(cache.bytes(), 10);
    }
}

//! Interning byte strings: each distinct string gets an id, in order of
//! first sight.
//!
//! Dictionary columns look up every value they hold, so this is on the
//! decoder's hot path. A general hash map (hash the slice, probe, then a
//! `memcmp` call per candidate) cost ~8% of a decode; here the table holds
//! each string's full hash next to its id, so a probe compares one word and
//! only a matching hash is compared byte for byte, inline.

use xxhash_rust::xxh3::xxh3_64;

/// An empty slot.
const EMPTY: u32 = u32::MAX;

/// Distinct byte strings, borrowed from the chunk, with ids `0..len`.
pub(crate) struct Interner<'a> {
    /// Open addressing, linear probing: (hash, id) or (_, EMPTY).
    slots: Vec<(u64, u32)>,
    /// The strings, by id.
    strings: Vec<&'a [u8]>,
}

impl<'a> Interner<'a> {
    pub fn new() -> Interner<'a> {
        Interner {
            slots: Vec::new(),
            strings: Vec::new(),
        }
    }

    /// The strings, by id.
    pub fn strings(&self) -> &[&'a [u8]] {
        &self.strings
    }

    /// The id of `s`, added if new.
    #[inline]
    pub fn intern(&mut self, s: &'a [u8]) -> u32 {
        // Kept at most half full: probes stay short.
        if self.strings.len() * 2 >= self.slots.len() {
            self.grow();
        }
        let hash = xxh3_64(s);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let (h, id) = self.slots[i];
            if id == EMPTY {
                let id = self.strings.len() as u32;
                self.slots[i] = (hash, id);
                self.strings.push(s);
                return id;
            }
            if h == hash && same_bytes(self.strings[id as usize], s) {
                return id;
            }
            i = (i + 1) & mask;
        }
    }

    /// Doubles the table (at least 16 slots) and places every string again.
    #[cold]
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let mask = size - 1;
        let mut slots = vec![(0, EMPTY); size];
        for (id, s) in self.strings.iter().enumerate() {
            let hash = xxh3_64(s);
            let mut i = hash as usize & mask;
            while slots[i].1 != EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = (hash, id as u32);
        }
        self.slots = slots;
    }
}

/// Compares two byte strings. Mostly short (field names, values of
/// dictionary columns): comparing them in 8-byte words, inline, beats a call
/// to `memcmp`.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if n >= 8 {
        let word =
            |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().expect("8 bytes"));
        let mut at = 0;
        while at + 8 <= n {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        // The last (overlapping) word covers the tail.
        return word(a, n - 8) == word(b, n - 8);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_first_sight_and_repeat_for_equal_strings() {
        let words: Vec<Vec<u8>> = (0..1000)
            .map(|i| format!("value-{}", i % 317).into_bytes())
            .collect();
        let mut interner = Interner::new();
        let ids: Vec<u32> = words.iter().map(|w| interner.intern(w)).collect();
        assert_eq!(interner.strings().len(), 317);
        for (w, id) in words.iter().zip(&ids) {
            assert_eq!(interner.strings()[*id as usize], &w[..]);
        }
        assert_eq!(ids[0], 0);
        assert_eq!(ids[316], 316);
        assert_eq!(ids[317], 0);
    }

    #[test]
    fn compares_every_length_exactly() {
        let a: Vec<u8> = (0..40).collect();
        for n in 0..40 {
            assert!(same_bytes(&a[..n], &a[..n]));
            for i in 0..n {
                let mut b = a[..n].to_vec();
                b[i] ^= 1;
                assert!(!same_bytes(&a[..n], &b), "length {n}, byte {i}");
            }
            assert!(!same_bytes(&a[..n], &a[..n + 1]));
        }
    }
}

//! Discrete distributions over dictionary ranks: Zipf and fixed weights.
//!
//! Both precompute a cumulative table once (at `Workload` construction) so that a draw is
//! one random number and a binary search.

use crate::rng::Rng;

/// The Zipf exponent of every skewed field: a few values are very common, a long tail rare.
pub(crate) const ZIPF_EXPONENT: f64 = 1.1;

/// A distribution over ranks 0..n given by a cumulative table ending at exactly 1.0.
#[derive(Clone, Debug)]
pub(crate) struct Discrete {
    cdf: Vec<f64>,
}

impl Discrete {
    /// Zipf over ranks 0..n: P(rank k) is proportional to 1 / (k + 1)^exponent.
    pub(crate) fn zipf(n: usize, exponent: f64) -> Self {
        Self::from_weights((1..=n).map(|k| (k as f64).powf(-exponent)))
    }

    /// Ranks drawn in proportion to `weights` (which need not be normalised).
    ///
    /// # Panics
    /// If there are no weights or they do not sum to a positive finite number; callers
    /// validate user input before getting here.
    pub(crate) fn from_weights(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        assert!(
            !cdf.is_empty() && total > 0.0 && total.is_finite(),
            "weights must sum to a positive number"
        );
        for c in &mut cdf {
            *c /= total;
        }
        // Division may leave the last entry a hair below 1.0; pin it so that every
        // u in [0, 1) finds a rank.
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Discrete { cdf }
    }

    /// Number of ranks.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cdf.len()
    }

    /// Draws a rank in 0..len().
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        // First rank whose cumulative probability exceeds u. Zero-weight ranks have the
        // same cumulative value as their predecessor, so they are never chosen.
        self.cdf.partition_point(|&c| c <= u)
    }
}

/// A dictionary whose entries are drawn by a Zipf law over their position: the first
/// entry is the most common.
#[derive(Clone, Debug)]
pub(crate) struct ZipfDict<T> {
    items: Vec<T>,
    ranks: Discrete,
}

impl<T> ZipfDict<T> {
    pub(crate) fn new(items: Vec<T>) -> Self {
        let ranks = Discrete::zipf(items.len(), ZIPF_EXPONENT);
        ZipfDict { items, ranks }
    }

    pub(crate) fn sample(&self, rng: &mut Rng) -> &T {
        &self.items[self.ranks.sample(rng)]
    }

    #[cfg(test)]
    pub(crate) fn items(&self) -> &[T] {
        &self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_prefers_low_ranks_and_covers_the_tail() {
        let d = Discrete::zipf(100, ZIPF_EXPONENT);
        let mut rng = Rng::new(3);
        let mut hits = vec![0u32; d.len()];
        for _ in 0..100_000 {
            hits[d.sample(&mut rng)] += 1;
        }
        assert!(hits[0] > hits[1] && hits[1] > hits[5] && hits[5] > hits[50]);
        assert!(hits[99] > 0);
        // P(rank 0) = 1 / H(100, 1.1) = 0.2338.
        let p0 = f64::from(hits[0]) / 100_000.0;
        assert!((p0 - 0.2338).abs() < 0.005, "p0 {p0}");
    }

    #[test]
    fn weights_are_respected_and_zero_weights_never_drawn() {
        let d = Discrete::from_weights([3.0, 0.0, 1.0]);
        let mut rng = Rng::new(4);
        let mut hits = [0u32; 3];
        for _ in 0..40_000 {
            hits[d.sample(&mut rng)] += 1;
        }
        assert_eq!(hits[1], 0);
        let share = f64::from(hits[0]) / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "share {share}");
    }
}

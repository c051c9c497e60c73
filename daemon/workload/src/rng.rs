//! The crate's own pseudo-random generator.
//!
//! Why our own: the workload is a reference that benchmarks are compared against over
//! time, so its bytes must not change when a dependency (`rand` and friends) changes its
//! algorithms. xoshiro256** for the stream, SplitMix64 to seed it and to derive
//! independent sub-streams, both exactly as published by Blackman and Vigna.

/// The golden-ratio increment of SplitMix64.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function: a bijective, well-avalanching 64-bit mix.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives the key of sub-stream `label` of the stream keyed `parent`.
///
/// Used twice: seed -> epoch, epoch -> event index. Mixing the label on its own first
/// keeps neighbouring labels (epoch 5 and 6, event 0 and 1) far apart.
pub(crate) fn derive(parent: u64, label: u64) -> u64 {
    mix64(parent ^ mix64(label.wrapping_add(GOLDEN)))
}

/// SplitMix64, used only to expand a 64-bit key into xoshiro's 256-bit state.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }
}

/// xoshiro256** plus the distributions the workload needs.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
    /// Box-Muller makes normals in pairs; the second one waits here.
    spare_normal: Option<f64>,
}

impl Rng {
    /// A generator whose whole output is a function of `key`.
    pub(crate) fn new(key: u64) -> Self {
        let mut sm = SplitMix64(key);
        // Four consecutive SplitMix64 outputs are never all zero (the output function is
        // a bijection of distinct counters), so the forbidden all-zero state cannot occur.
        let s = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        Rng {
            s,
            spare_normal: None,
        }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub(crate) fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in [0, n) by Lemire's multiply-shift. No rejection step: the bias is at
    /// most n / 2^64, far below anything a workload can show, and one draw per call keeps
    /// the number of draws per event fixed.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [lo, hi], both ends included.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal by Box-Muller.
    pub(crate) fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let r = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
        self.spare_normal = Some(r * sin);
        r * cos
    }

    /// exp(N(mu, sigma^2)).
    pub(crate) fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }

    /// Appends `n` random lowercase hex digits.
    pub(crate) fn push_hex(&mut self, out: &mut String, n: usize) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut bits = 0u64;
        for i in 0..n {
            if i % 16 == 0 {
                bits = self.next_u64();
            }
            out.push(char::from(HEX[(bits & 0xf) as usize]));
            bits >>= 4;
        }
    }

    /// Uniform index into a non-empty collection of `len` elements.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Picks one element of a non-empty slice uniformly.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_matches_the_reference_implementation() {
        // State 1, 2, 3, 4 run through the C reference (xoshiro256starstar.c).
        let mut rng = Rng {
            s: [1, 2, 3, 4],
            spare_normal: None,
        };
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(got, [11520, 0, 1509978240]);
    }

    #[test]
    fn splitmix_matches_the_reference_implementation() {
        // First outputs of splitmix64.c seeded with 1234567.
        let mut sm = SplitMix64(1234567);
        assert_eq!(sm.next_u64(), 6457827717110365317);
        assert_eq!(sm.next_u64(), 3203168211198807973);
    }

    #[test]
    fn below_and_between_stay_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..10_000 {
            assert!(rng.below(3) < 3);
            let v = rng.between(5, 9);
            assert!((5..=9).contains(&v));
        }
    }

    #[test]
    fn lognormal_has_the_requested_median() {
        let mut rng = Rng::new(9);
        let mut v: Vec<f64> = (0..20_001).map(|_| rng.lognormal(5.0, 0.8)).collect();
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        // e^5 = 148.4; the sample median of 20k draws is within a few percent of it.
        assert!((median / 5f64.exp() - 1.0).abs() < 0.05, "median {median}");
    }

    #[test]
    fn hex_has_the_requested_length_and_alphabet() {
        let mut rng = Rng::new(1);
        let mut s = String::new();
        rng.push_hex(&mut s, 32);
        assert_eq!(s.len(), 32);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
}

//! Seeded randomness for simulations. Every draw comes from a stream keyed by what it decides
//! (run seed, round, labeler, task...), so a labeler's answer to a task does not depend on the
//! order in which labelers happen to be driven: every venue (in process, or servers whose
//! client threads interleave freely) gives the same labels for the same assignment.

use plumbline_core::synthetic::SplitMix64;

/// A random stream.
#[derive(Clone, Debug)]
pub struct Rng(SplitMix64);

/// Stream tags, so that unrelated decisions never share a stream.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Tag {
    /// Drawing the population's skills.
    Roster = 1,
    /// Drawing tasks.
    Tasks = 2,
    /// One labeler's (or one swarm's) answer to one task.
    Answer = 3,
    /// The order in which labelers join.
    JoinOrder = 4,
    /// Experiment ids and assignment seeds.
    Experiment = 5,
    /// Adaptive rounds: response qualities, brackets, votes, the order labels arrive in.
    Adaptive = 6,
}

impl Rng {
    /// The stream for `tag` and its keys under `seed`.
    pub fn stream(seed: u64, tag: Tag, keys: &[u64]) -> Rng {
        let mut state = mix(seed ^ 0x5151_7a7a_0000_0000);
        state = mix(state ^ tag as u64);
        for key in keys {
            state = mix(state ^ key.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        Rng(SplitMix64::new(state))
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// A Gamma(shape, 1) draw (Marsaglia-Tsang; shapes below 1 boosted by U^(1/shape)).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let boost = (1.0 - self.unit()).powf(1.0 / shape);
            return self.gamma(shape + 1.0) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.unit();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// A Beta(a, b) draw.
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        x / (x + y)
    }

    /// Shuffles a slice (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// One SplitMix64 output of a state: a well-mixed 64-bit function.
fn mix(state: u64) -> u64 {
    SplitMix64::new(state).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(7, Tag::Answer, &[1, 2]).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let other = Rng::stream(7, Tag::Answer, &[2, 1]).next_u64();
        assert_ne!(a[0], other, "keys are ordered");
        assert_ne!(a[0], Rng::stream(7, Tag::Tasks, &[1, 2]).next_u64(), "tags separate");
    }

    #[test]
    fn beta_has_its_mean() {
        let mut rng = Rng::stream(3, Tag::Roster, &[]);
        let n = 20_000;
        let mean = (0..n).map(|_| rng.beta(8.0, 2.0)).sum::<f64>() / n as f64;
        assert!((mean - 0.8).abs() < 0.01, "{mean}");
        let small = (0..n).map(|_| rng.beta(0.5, 0.5)).sum::<f64>() / n as f64;
        assert!((small - 0.5).abs() < 0.02, "{small}");
    }
}

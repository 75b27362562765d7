//! Seeded randomness, drawn per request so runs repeat.
//!
//! Each request gets its own generator from the seed, its `service:Action` and how many
//! calls of that action came before it. The n-th `CreateVpc` of a run therefore meets
//! the same fate whatever other calls ran concurrently beside it, which a single shared
//! generator could not promise.

/// SplitMix64: tiny, fast and well mixed, which is all fault injection needs.
pub(crate) struct Rng(u64);

impl Rng {
    /// The generator for the `n`-th call (from 0) of `key` in a run seeded with `seed`.
    pub(crate) fn for_call(seed: u64, key: &str, n: usize) -> Rng {
        let mut rng = Rng(seed ^ fnv1a(key) ^ (n as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
        // One step so that nearby seeds do not give nearby first draws.
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A request id in AWS's UUID form, for the errors the proxy invents.
    pub(crate) fn request_id(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// FNV-1a: a stable hash (std's `DefaultHasher` may change between Rust releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

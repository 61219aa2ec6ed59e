//! Seeded random streams: [`derive`] makes an independent seed from a parent seed and a purpose,
//! so every source of randomness (weight init, data order, environments, masks, dropout) has its
//! own stream, reproducible from one base seed.

pub use lottery_envs::Rng;

/// Derives an independent seed from a parent seed and a purpose. Seeds have 63 bits, so they fit
/// libtorch's signed seeds and TOML's integers unchanged.
pub fn derive(seed: u64, purpose: &str, index: u64) -> u64 {
    let mut h = seed ^ 0x51_7C_C1_B7_27_22_0A_95;
    for b in purpose.bytes().chain(index.to_le_bytes()) {
        h = Rng::new(h ^ b as u64).next_u64();
    }
    h >> 1
}

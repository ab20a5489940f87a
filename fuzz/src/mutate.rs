//! The PRNG and the mutations.

/// xorshift64*: small, fast and good enough to drive mutations; reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so nearby seeds give unrelated streams (and 0 works).
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

const INTERESTING_8: &[u8] = &[0, 1, 0x7f, 0x80, 0xff, b'\n', b'"', b'[', b'{', b'-', b':'];
const INTERESTING_32: &[u32] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// Applies 1-4 random mutations to `data`; `seeds` provide splicing material.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], max_len: usize) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        match rng.below(10) {
            0 | 1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            2 if data.len() < max_len => {
                let i = rng.below(data.len() + 1);
                data.insert(i, rng.next_u64() as u8);
            }
            3 if !data.is_empty() => {
                let i = rng.below(data.len());
                let n = 1 + rng.below((data.len() - i).min(16));
                data.drain(i..i + n);
            }
            4 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = INTERESTING_8[rng.below(INTERESTING_8.len())];
            }
            5 if data.len() >= 4 => {
                let i = rng.below(data.len() - 3);
                let v = INTERESTING_32[rng.below(INTERESTING_32.len())];
                let bytes = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let width = [1, 2, 4][rng.below(3)];
                data[i..i + width].copy_from_slice(&bytes[..width]);
            }
            6 if !data.is_empty() && data.len() < max_len => {
                // Duplicate a chunk (repetition reaches nesting and length limits).
                let i = rng.below(data.len());
                let n = 1 + rng.below((data.len() - i).min(64));
                let chunk = data[i..i + n].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, chunk);
            }
            7 if !seeds.is_empty() => {
                // Splice: our head, another seed's tail.
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            8 if !data.is_empty() => {
                let keep = rng.below(data.len());
                data.truncate(keep);
            }
            _ if data.len() >= 2 => {
                let (i, j) = (rng.below(data.len()), rng.below(data.len()));
                data.swap(i, j);
            }
            _ => data.push(rng.next_u64() as u8),
        }
    }
    data.truncate(max_len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_mutations() {
        let seeds = vec![b"seed one".to_vec(), b"another seed".to_vec()];
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            for _ in 0..100 {
                let mut d = seeds[0].clone();
                mutate(&mut rng, &mut d, &seeds, 1024);
                out.push(d);
            }
            out
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().any(|d| d != &seeds[0]));
    }
}

//! Random (version 4) UUIDs without an OS call per flow.

/// SplitMix64, seeded once from the OS: a UUID per event from the OS would cost a syscall
/// per flow.
#[derive(Debug, Clone)]
pub struct UuidGen {
    state: u64,
}

impl Default for UuidGen {
    fn default() -> Self {
        Self::new()
    }
}

impl UuidGen {
    pub fn new() -> Self {
        let seed = uuid::Uuid::new_v4().as_u64_pair();
        UuidGen {
            state: seed.0 ^ seed.1.rotate_left(32),
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The bytes of a new version-4 UUID.
    pub fn next_uuid(&mut self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        *uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .as_bytes()
    }
}

/// The hyphenated lower-case text of a UUID, written into `buf`.
pub fn text<'a>(bytes: &[u8; 16], buf: &'a mut [u8; 36]) -> &'a str {
    uuid::Uuid::from_bytes(*bytes)
        .hyphenated()
        .encode_lower(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_4_and_distinct() {
        let mut g = UuidGen::new();
        let a = g.next_uuid();
        let b = g.next_uuid();
        assert_ne!(a, b);
        let mut buf = [0u8; 36];
        let t = text(&a, &mut buf).to_string();
        assert_eq!(t.len(), 36);
        assert_eq!(&t[14..15], "4");
        assert_eq!(
            uuid::Uuid::parse_str(&t).expect("uuid").get_version_num(),
            4
        );
    }
}

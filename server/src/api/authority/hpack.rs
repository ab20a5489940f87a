//! Finds and repairs `:authority` values that `http::uri::Authority` refuses, inside one HPACK
//! header block (RFC 7541), without decoding it.
//!
//! The repair keeps every byte count: a value is rewritten in place, byte for byte, and no
//! other byte of the block changes. HPACK is stateful (each side keeps a dynamic table whose
//! entries are sized by their name and value lengths), so a same-length rewrite leaves the
//! server decoder's table exactly as large as the client encoder's: later blocks that refer
//! to an entry by index still find the right one, and now get the repaired value.
//!
//! Only values sent as plain (non-Huffman) string literals, under a name given either as the
//! plain literal `:authority` or as static-table index 1, are recognised. That is how gRPC's
//! C core sends the authority; any other representation is left as it is.

use std::ops::Range;

/// Static-table index of `:authority` (RFC 7541 Appendix A).
const STATIC_AUTHORITY: usize = 1;
const AUTHORITY: &[u8] = b":authority";
/// Largest integer accepted in a header block; far above any length h2 allows.
const MAX_INTEGER: usize = u32::MAX as usize;

/// Why a header block could not be walked; the block is then left untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("header block ends inside a field at offset {0}")]
    Truncated(usize),
    #[error("HPACK integer too large at offset {0}")]
    IntegerOverflow(usize),
}

/// Rewrites, in place, every `:authority` literal value of `block` that is not a valid URI
/// authority into one that is (see [`repair`]). Returns how many values were rewritten; on
/// error nothing is changed.
pub fn repair_authorities(block: &mut [u8]) -> Result<usize, BlockError> {
    let invalid = invalid_authorities(block)?;
    for range in &invalid {
        repair(&mut block[range.clone()]);
    }
    Ok(invalid.len())
}

/// Replaces every byte that is not an RFC 3986 unreserved character with `-`: the result,
/// as long as the input and never empty, is a valid authority (a registered name).
pub fn repair(value: &mut [u8]) {
    for b in value.iter_mut() {
        if !(b.is_ascii_alphanumeric() || matches!(*b, b'-' | b'.' | b'_' | b'~')) {
            *b = b'-';
        }
    }
}

/// Whether h2 would accept `value` as `:authority`: the same parser it uses.
pub fn is_valid_authority(value: &[u8]) -> bool {
    http::uri::Authority::try_from(value).is_ok()
}

/// The byte ranges of the plain-literal `:authority` values in `block` that are not valid
/// authorities. Empty values are not listed: no same-length rewrite can make them valid.
fn invalid_authorities(block: &[u8]) -> Result<Vec<Range<usize>>, BlockError> {
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(&first) = block.get(pos) {
        if first & 0x80 != 0 {
            // Indexed header field (6.1): the entry, if dynamic, holds what was inserted.
            pos = integer(block, pos, 7)?.1;
            continue;
        }
        if first & 0xe0 == 0x20 {
            // Dynamic table size update (6.3).
            pos = integer(block, pos, 5)?.1;
            continue;
        }
        // Literal header field with incremental indexing (6.2.1, `01`), without indexing
        // (6.2.2, `0000`) or never indexed (6.2.3, `0001`).
        let prefix = if first & 0x40 != 0 { 6 } else { 4 };
        let (index, mut next) = integer(block, pos, prefix)?;
        let named_authority = if index == 0 {
            let name = string(block, next)?;
            next = name.end;
            !name.huffman && &block[name.bytes] == AUTHORITY
        } else {
            index == STATIC_AUTHORITY
        };
        let value = string(block, next)?;
        if named_authority
            && !value.huffman
            && !value.bytes.is_empty()
            && !is_valid_authority(&block[value.bytes.clone()])
        {
            found.push(value.bytes.clone());
        }
        pos = value.end;
    }
    Ok(found)
}

/// A string literal (5.2): where its octets are and where the next field starts.
struct Literal {
    huffman: bool,
    bytes: Range<usize>,
    end: usize,
}

fn string(block: &[u8], pos: usize) -> Result<Literal, BlockError> {
    let huffman = block.get(pos).ok_or(BlockError::Truncated(pos))? & 0x80 != 0;
    let (len, start) = integer(block, pos, 7)?;
    let end = start
        .checked_add(len)
        .filter(|&end| end <= block.len())
        .ok_or(BlockError::Truncated(pos))?;
    Ok(Literal {
        huffman,
        bytes: start..end,
        end,
    })
}

/// An integer with an N-bit prefix (5.1) starting at `pos`: its value and the offset after it.
fn integer(block: &[u8], pos: usize, prefix_bits: u32) -> Result<(usize, usize), BlockError> {
    let max_prefix = (1usize << prefix_bits) - 1;
    let first = *block.get(pos).ok_or(BlockError::Truncated(pos))?;
    let mut value = usize::from(first) & max_prefix;
    let mut at = pos + 1;
    if value < max_prefix {
        return Ok((value, at));
    }
    let mut shift = 0u32;
    loop {
        let b = *block.get(at).ok_or(BlockError::Truncated(at))?;
        at += 1;
        value = usize::from(b & 0x7f)
            .checked_shl(shift)
            .and_then(|v| v.checked_add(value))
            .filter(|&v| v <= MAX_INTEGER && shift <= 28)
            .ok_or(BlockError::IntegerOverflow(pos))?;
        if b & 0x80 == 0 {
            return Ok((value, at));
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first request block grpcio 1.85 (gRPC C core 58) sent for `unix:///tmp/capt/hubble.sock`:
    /// `:path` and `:authority` as literals with incremental indexing and new names, plain
    /// strings; `:method POST` and `:scheme http` indexed; then the gRPC headers.
    const GRPCIO_BLOCK: &str = "40053a706174681f2f6f627365727665722e4f627365727665722f5365727665\
        72537461747573400a3a617574686f7269747918746d7025324663617074253246687562626c652e736f636b\
        8386400c636f6e74656e742d74797065106170706c69636174696f6e2f67727063400274650874726169\
        6c6572734014677270632d6163636570742d656e636f64696e67176964656e746974792c206465666c617465\
        2c20677a6970400c677270632d74696d656f7574043939376d400a757365722d6167656e7430677270632d70\
        7974686f6e2f312e38352e3320677270632d632f35382e302e3020286c696e75783b2063687474703229";
    /// Its second block on the same connection: `:authority` is dynamic-table index 68 (`c4`).
    const GRPCIO_SECOND: &str = "40053a706174681b2f6f627365727665722e4f627365727665722f4765744\
        66c6f7773c48386c3c2c1400c677270632d74696d656f7574023153c0";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// A plain string literal.
    fn lit(s: &[u8]) -> Vec<u8> {
        assert!(s.len() < 127);
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s);
        v
    }

    #[test]
    fn grpcio_authority_is_repaired_in_place() {
        let mut block = hex(GRPCIO_BLOCK);
        let before = block.clone();
        assert_eq!(repair_authorities(&mut block), Ok(1));
        assert_eq!(block.len(), before.len());
        let old = b"tmp%2Fcapt%2Fhubble.sock";
        let new = b"tmp-2Fcapt-2Fhubble.sock";
        let at = before
            .windows(old.len())
            .position(|w| w == old)
            .expect("value in block");
        assert_eq!(&block[at..at + new.len()], new);
        // Every other byte is as the client sent it.
        let changed: Vec<usize> = (0..block.len())
            .filter(|&i| block[i] != before[i])
            .collect();
        assert_eq!(changed, vec![at + 3, at + 10]);
        assert!(is_valid_authority(new));
        // Walking again finds nothing left to repair.
        assert_eq!(repair_authorities(&mut block), Ok(0));
    }

    #[test]
    fn indexed_reference_is_left_alone() {
        let mut block = hex(GRPCIO_SECOND);
        let before = block.clone();
        assert_eq!(repair_authorities(&mut block), Ok(0));
        assert_eq!(block, before);
    }

    #[test]
    fn every_literal_form_with_a_recognised_name_is_repaired() {
        // Static name index 1 with each literal kind, and a literal name without indexing.
        for prefix in [0x41u8, 0x01, 0x11] {
            let mut block = vec![prefix];
            block.extend(lit(b"a b"));
            assert_eq!(repair_authorities(&mut block), Ok(1), "{prefix:#x}");
            assert_eq!(&block[2..], b"a-b");
        }
        for first in [0x40u8, 0x00, 0x10] {
            let mut block = vec![first];
            block.extend(lit(AUTHORITY));
            block.extend(lit(b"x@y:1:2"));
            assert_eq!(repair_authorities(&mut block), Ok(1), "{first:#x}");
            assert_eq!(&block[block.len() - 7..], b"x-y-1-2");
        }
    }

    #[test]
    fn valid_and_unrecognised_values_are_kept() {
        let mut block = vec![0x41];
        block.extend(lit(b"localhost:4244"));
        // Another name with a bad value: not ours to touch.
        block.push(0x40);
        block.extend(lit(b"x-host"));
        block.extend(lit(b"a%2Fb"));
        // Huffman-coded value (H bit set): left alone, its length still honoured.
        block.extend([0x41, 0x82, 0xff, 0xff]);
        // An empty authority cannot be repaired at the same length.
        block.extend([0x41, 0x00]);
        // A size update and an indexed field in between.
        block.extend([0x3f, 0xe1, 0x1f, 0x82]);
        block.push(0x41);
        block.extend(lit(b"[::1]:80"));
        let before = block.clone();
        assert_eq!(repair_authorities(&mut block), Ok(0));
        assert_eq!(block, before);
    }

    #[test]
    fn multi_byte_integers_are_followed() {
        // A literal name index and a value length that need continuation bytes.
        let value = vec![b'%'; 200];
        let mut block = vec![0x0f, 0x00]; // without indexing, name index 15 + 0 = 15
        block.extend([0x7f, 0x49]); // length 127 + 73 = 200
        block.extend(&value);
        block.push(0x01);
        block.extend([0x7f, 0x49]);
        block.extend(&value);
        assert_eq!(repair_authorities(&mut block), Ok(1));
        assert!(
            block[4..204].iter().all(|&b| b == b'%'),
            "index 15 is not :authority"
        );
        assert!(block[207..].iter().all(|&b| b == b'-'));
    }

    #[test]
    fn malformed_blocks_are_reported_and_untouched() {
        let mut value_cut = vec![0x41];
        value_cut.extend(lit(b"a%b"));
        value_cut.pop();
        let mut bad_then_cut = vec![0x41];
        bad_then_cut.extend(lit(b"a%b"));
        bad_then_cut.extend([0x40, 0x05]);
        for (block, err) in [
            (value_cut, BlockError::Truncated(1)),
            (bad_then_cut.clone(), BlockError::Truncated(6)),
            (vec![0xff], BlockError::Truncated(1)),
            (
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
                BlockError::IntegerOverflow(0),
            ),
        ] {
            let mut copy = block.clone();
            assert_eq!(repair_authorities(&mut copy), Err(err), "{block:x?}");
            assert_eq!(copy, block, "nothing changed");
        }
    }

    #[test]
    fn repaired_values_are_always_valid() {
        for b in 0..=255u8 {
            let mut v = [b'a', b, b'z'];
            repair(&mut v);
            assert!(is_valid_authority(&v), "{b:#x} -> {v:?}");
        }
    }
}

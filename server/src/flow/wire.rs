//! Protobuf wire writing and reading, the few primitives the flow encoder needs.
//!
//! Nested messages are written in place: five bytes are reserved for the length, the body
//! is written after them, and the length is written back and the body moved up over the
//! bytes it did not need. proto3 rules apply: scalars equal to their default are not
//! written, set sub-messages are (even when empty).

/// Wire types.
pub const VARINT: u32 = 0;
pub const I64: u32 = 1;
pub const LEN: u32 = 2;
pub const I32: u32 = 5;

#[inline]
pub fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
pub fn key(buf: &mut Vec<u8>, field: u32, wire_type: u32) {
    varint(buf, u64::from(field << 3 | wire_type));
}

/// A `uint32`/`uint64`/`bool` (as 0/1) field, skipped when 0.
#[inline]
pub fn uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(buf, field, VARINT);
        varint(buf, v);
    }
}

/// An `int32` or enum field: negative values take ten bytes, as the spec says.
#[inline]
pub fn int32(buf: &mut Vec<u8>, field: u32, v: i32) {
    if v != 0 {
        key(buf, field, VARINT);
        varint(buf, i64::from(v) as u64);
    }
}

#[inline]
pub fn int64(buf: &mut Vec<u8>, field: u32, v: i64) {
    if v != 0 {
        key(buf, field, VARINT);
        varint(buf, v as u64);
    }
}

/// A `string`/`bytes` field, skipped when empty.
#[inline]
pub fn string(buf: &mut Vec<u8>, field: u32, s: &[u8]) {
    if !s.is_empty() {
        bytes_always(buf, field, s);
    }
}

/// A length-delimited field written even when empty (repeated strings, ready bodies).
#[inline]
pub fn bytes_always(buf: &mut Vec<u8>, field: u32, s: &[u8]) {
    key(buf, field, LEN);
    varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// Starts a sub-message; pass the result to [`end`].
#[inline]
pub fn begin(buf: &mut Vec<u8>, field: u32) -> usize {
    key(buf, field, LEN);
    buf.extend_from_slice(&[0; 5]);
    buf.len()
}

/// Ends a sub-message started at `start`.
#[inline]
pub fn end(buf: &mut Vec<u8>, start: usize) {
    let len = buf.len() - start;
    let mut hdr = [0u8; 5];
    let mut n = 0;
    let mut v = len as u64;
    while v >= 0x80 {
        hdr[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    hdr[n] = v as u8;
    n += 1;
    let at = start - 5;
    buf[at..at + n].copy_from_slice(&hdr[..n]);
    if n < 5 {
        buf.copy_within(start.., at + n);
        buf.truncate(buf.len() - (5 - n));
    }
}

/// A `google.protobuf.Timestamp` sub-message.
#[inline]
pub fn timestamp(buf: &mut Vec<u8>, field: u32, seconds: i64, nanos: i32) {
    let at = begin(buf, field);
    int64(buf, 1, seconds);
    int32(buf, 2, nanos);
    end(buf, at);
}

/// One field read from a message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub number: u32,
    pub wire_type: u32,
    /// The whole field: key, and value (with its length prefix for LEN fields).
    pub raw: &'a [u8],
    /// For LEN fields, the value without its length prefix.
    pub body: &'a [u8],
    /// For VARINT fields the value; for fixed-size fields their little-endian value.
    pub value: u64,
}

/// A malformed message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf at byte {0}")]
pub struct WireError(pub usize);

fn read_varint(data: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos).ok_or(WireError(*pos))?;
        *pos += 1;
        // The tenth byte holds bit 63 only: anything more overflows 64 bits.
        if shift == 63 && b > 1 {
            return Err(WireError(*pos - 1));
        }
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(WireError(*pos))
}

/// Skips a group's fields up to its end tag (protobuf 2 groups: decoders skip them in
/// unknown fields).
fn skip_group(data: &[u8], pos: &mut usize, number: u64, depth: u32) -> Result<(), WireError> {
    if depth > 100 {
        return Err(WireError(*pos));
    }
    loop {
        let at = *pos;
        let k = read_varint(data, pos)?;
        if k >> 3 == 0 || k >> 3 > (1 << 29) - 1 {
            return Err(WireError(at));
        }
        match (k & 7) as u32 {
            VARINT => {
                read_varint(data, pos)?;
            }
            I64 => *pos += 8,
            I32 => *pos += 4,
            LEN => {
                let len = read_varint(data, pos)?;
                *pos = usize::try_from(len)
                    .ok()
                    .and_then(|l| pos.checked_add(l))
                    .ok_or(WireError(at))?;
            }
            3 => skip_group(data, pos, k >> 3, depth + 1)?,
            4 if k >> 3 == number => return Ok(()),
            _ => return Err(WireError(at)),
        }
        if *pos > data.len() {
            return Err(WireError(at));
        }
    }
}

/// The fields of a message body, in order.
pub fn fields(data: &[u8]) -> impl Iterator<Item = Result<Field<'_>, WireError>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let start = pos;
        let r = (|| {
            let k = read_varint(data, &mut pos)?;
            let number = u32::try_from(k >> 3).map_err(|_| WireError(start))?;
            // Field numbers start at 1; larger than 2^29 - 1 is not a field either.
            if number == 0 || number > (1 << 29) - 1 {
                return Err(WireError(start));
            }
            let wire_type = (k & 7) as u32;
            let body_start;
            let mut value = 0;
            let fixed = |pos: usize, n: usize| {
                data.get(pos..pos + n).map_or(0, |b| {
                    b.iter().rev().fold(0u64, |acc, x| acc << 8 | u64::from(*x))
                })
            };
            match wire_type {
                VARINT => {
                    value = read_varint(data, &mut pos)?;
                    body_start = pos;
                }
                I64 => {
                    value = fixed(pos, 8);
                    pos += 8;
                    body_start = pos;
                }
                I32 => {
                    value = fixed(pos, 4);
                    pos += 4;
                    body_start = pos;
                }
                LEN => {
                    let len = read_varint(data, &mut pos)?;
                    body_start = pos;
                    pos = pos
                        .checked_add(usize::try_from(len).map_err(|_| WireError(start))?)
                        .ok_or(WireError(start))?;
                }
                3 => {
                    skip_group(data, &mut pos, u64::from(number), 0)?;
                    body_start = pos;
                }
                _ => return Err(WireError(start)),
            }
            if pos > data.len() {
                return Err(WireError(start));
            }
            Ok(Field {
                number,
                wire_type,
                raw: &data[start..pos],
                body: if wire_type == LEN {
                    &data[body_start..pos]
                } else {
                    &[]
                },
                value,
            })
        })();
        if r.is_err() {
            pos = data.len();
        }
        Some(r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn nested_lengths_of_every_size() {
        for n in [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let mut buf = vec![9u8];
            let at = begin(&mut buf, 3);
            buf.extend(std::iter::repeat_n(7u8, n));
            end(&mut buf, at);
            let mut want = vec![9u8];
            bytes_always(&mut want, 3, &vec![7u8; n]);
            assert_eq!(buf, want, "{n}");
        }
    }

    #[test]
    fn matches_prost_for_scalars() {
        let ts = flowscope_proto::types::Timestamp {
            seconds: -5,
            nanos: -1,
        };
        let mut buf = Vec::new();
        timestamp(&mut buf, 1, ts.seconds, ts.nanos);
        let flow = flowscope_proto::flow::Flow {
            time: Some(ts),
            ..Default::default()
        };
        assert_eq!(buf, flow.encode_to_vec());
    }

    #[test]
    fn reads_back_fields_and_rejects_garbage() {
        let mut buf = Vec::new();
        uint(&mut buf, 1, 300);
        string(&mut buf, 2, b"ab");
        let got: Vec<_> = fields(&buf).collect::<Result<_, _>>().expect("fields");
        assert_eq!(got.len(), 2);
        assert_eq!((got[1].number, got[1].body), (2, &b"ab"[..]));
        assert!(fields(&[0x12, 0x05, 1]).any(|f| f.is_err()));
        assert!(fields(&[0xff; 12]).any(|f| f.is_err()));
    }
}

//! Follows the client-to-server byte stream of an HTTP/2 connection (RFC 9113) frame by
//! frame, holds each header block back until it is complete, repairs its `:authority` values
//! ([`super::hpack`]) and lets every other byte through untouched.
//!
//! Header blocks are the only bytes held: a HEADERS frame and its CONTINUATION frames, up to
//! [`MAX_BLOCK`] bytes. Anything unexpected (no HTTP/2 preface, a block interrupted by another
//! frame, a block too large, an undecodable block) is passed on as it came, for the HTTP/2
//! server to judge; the scanner never rejects or drops a byte.

use super::hpack;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// Largest header block (frames with their headers) held back for repair. h2 refuses far
/// smaller header lists by default, so a larger block is passed on unrepaired.
pub const MAX_BLOCK: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Matching the connection preface.
    Preface,
    /// At a frame boundary.
    FrameHeader,
    /// Passing this many more payload bytes of a frame through.
    Forward(usize),
    /// Not an HTTP/2 stream as expected: everything passes through.
    Passthrough,
}

/// A header block being collected: the raw frames and, within them, the fragment ranges.
#[derive(Debug, Default)]
struct Block {
    stream: u32,
    raw: Vec<u8>,
    fragments: Vec<std::ops::Range<usize>>,
}

/// The scanner of one connection's incoming bytes.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    /// Received bytes not yet passed on or held in `block`.
    pending: Vec<u8>,
    block: Option<Block>,
    repaired: u64,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Preface,
            pending: Vec::new(),
            block: None,
            repaired: 0,
        }
    }
}

impl Scanner {
    /// How many `:authority` values were repaired so far.
    pub fn repaired(&self) -> u64 {
        self.repaired
    }

    /// Takes bytes read from the client; appends to `out` those that may go to the server.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(data);
        while self.step(out) {}
    }

    /// The client closed its side: everything held goes out as it is.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush_block(out);
        out.append(&mut self.pending);
        self.state = State::Passthrough;
    }

    /// Makes one step of progress; false when more input is needed.
    fn step(&mut self, out: &mut Vec<u8>) -> bool {
        match self.state {
            State::Passthrough => {
                out.append(&mut self.pending);
                false
            }
            State::Forward(n) => {
                let k = n.min(self.pending.len());
                out.extend(self.pending.drain(..k));
                if k == n {
                    self.state = State::FrameHeader;
                    true
                } else {
                    self.state = State::Forward(n - k);
                    false
                }
            }
            State::Preface => {
                let k = PREFACE.len().min(self.pending.len());
                if self.pending[..k] != PREFACE[..k] {
                    self.state = State::Passthrough;
                    return true;
                }
                if k < PREFACE.len() {
                    return false;
                }
                out.extend(self.pending.drain(..k));
                self.state = State::FrameHeader;
                true
            }
            State::FrameHeader => self.frame(out),
        }
    }

    /// At a frame boundary: holds a header-block frame, or starts forwarding any other.
    fn frame(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(head) = self.pending.get(..FRAME_HEADER_LEN) else {
            return false;
        };
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let continues = match &self.block {
            Some(b) => kind == CONTINUATION && b.stream == stream,
            None => kind == HEADERS,
        };
        let held = self.block.as_ref().map_or(0, |b| b.raw.len());
        if !continues || held + FRAME_HEADER_LEN + len > MAX_BLOCK {
            // Not (or no longer) a block to repair: whatever was held goes out first.
            self.flush_block(out);
            out.extend(self.pending.drain(..FRAME_HEADER_LEN));
            self.state = State::Forward(len);
            return true;
        }
        if self.pending.len() < FRAME_HEADER_LEN + len {
            return false;
        }
        let frame: Vec<u8> = self.pending.drain(..FRAME_HEADER_LEN + len).collect();
        let block = self.block.get_or_insert_with(|| Block {
            stream,
            ..Block::default()
        });
        let base = block.raw.len() + FRAME_HEADER_LEN;
        match fragment(kind, flags, &frame[FRAME_HEADER_LEN..]) {
            Some(r) => block.fragments.push(base + r.start..base + r.end),
            // Bad padding: the server will refuse it; nothing here to repair.
            None => block.fragments.clear(),
        }
        block.raw.extend_from_slice(&frame);
        if flags & END_HEADERS != 0 {
            self.repair_block();
            self.flush_block(out);
        }
        true
    }

    /// Repairs the complete block held, if it can be walked.
    fn repair_block(&mut self) {
        let Some(block) = self.block.as_mut() else {
            return;
        };
        let mut joined: Vec<u8> = Vec::new();
        for r in &block.fragments {
            joined.extend_from_slice(&block.raw[r.clone()]);
        }
        if let Ok(n) = hpack::repair_authorities(&mut joined)
            && n > 0
        {
            self.repaired += n as u64;
            let mut rest = joined.as_slice();
            for r in &block.fragments {
                let (part, tail) = rest.split_at(r.len());
                block.raw[r.clone()].copy_from_slice(part);
                rest = tail;
            }
        }
    }

    fn flush_block(&mut self, out: &mut Vec<u8>) {
        if let Some(block) = self.block.take() {
            out.extend_from_slice(&block.raw);
        }
    }
}

/// The header block fragment inside a HEADERS or CONTINUATION payload: after the pad length
/// and priority fields, before the padding. None if the padding does not fit.
fn fragment(kind: u8, flags: u8, payload: &[u8]) -> Option<std::ops::Range<usize>> {
    if kind != HEADERS {
        return Some(0..payload.len());
    }
    let mut start = 0;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = usize::from(*payload.first()?);
        start += 1;
    }
    if flags & PRIORITY != 0 {
        start += 5;
    }
    let end = payload.len().checked_sub(pad)?;
    (start <= end).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: u8 = 0x0;
    const SETTINGS: u8 = 0x4;
    const END_STREAM: u8 = 0x1;
    /// `:authority` (static index 1, incremental indexing) with a value h2 refuses.
    const BAD: &[u8] = b"\x41\x0crun%2Fa.sock";
    const FIXED: &[u8] = b"\x41\x0crun-2Fa.sock";

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend(stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Everything fed at once and, separately, one byte at a time, must give `want`.
    fn check(input: &[u8], want: &[u8]) {
        let mut s = Scanner::default();
        let mut out = Vec::new();
        s.feed(input, &mut out);
        s.finish(&mut out);
        assert_eq!(out, want, "all at once");
        let mut s = Scanner::default();
        let mut out = Vec::new();
        for b in input {
            s.feed(std::slice::from_ref(b), &mut out);
        }
        s.finish(&mut out);
        assert_eq!(out, want, "byte by byte");
    }

    fn conn(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut v = PREFACE.to_vec();
        for f in frames {
            v.extend(f);
        }
        v
    }

    #[test]
    fn authority_in_a_headers_frame_is_repaired() {
        let settings = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]);
        let data = frame(DATA, END_STREAM, 1, BAD); // same bytes in a body: untouched
        let input = conn(&[
            settings.clone(),
            frame(HEADERS, END_HEADERS, 1, BAD),
            data.clone(),
        ]);
        let want = conn(&[settings, frame(HEADERS, END_HEADERS, 1, FIXED), data]);
        check(&input, &want);
        let mut s = Scanner::default();
        s.feed(&input, &mut Vec::new());
        assert_eq!(s.repaired(), 1);
    }

    #[test]
    fn padded_and_prioritised_headers_keep_their_fields() {
        let mut payload = vec![3]; // pad length
        payload.extend([0x80, 0, 0, 0, 16]); // exclusive dependency on 0, weight 16
        payload.extend(BAD);
        payload.extend(b"%%%"); // padding, not part of the block
        let mut want_payload = payload.clone();
        want_payload[6..6 + FIXED.len()].copy_from_slice(FIXED);
        check(
            &conn(&[frame(HEADERS, END_HEADERS | PADDED | PRIORITY, 3, &payload)]),
            &conn(&[frame(
                HEADERS,
                END_HEADERS | PADDED | PRIORITY,
                3,
                &want_payload,
            )]),
        );
    }

    #[test]
    fn a_value_split_across_continuation_frames_is_repaired() {
        let (a, b) = BAD.split_at(6); // inside the value: `\x41\x0crun%` | `2Fa.sock`
        let (x, y) = FIXED.split_at(6);
        check(
            &conn(&[
                frame(HEADERS, 0, 5, a),
                frame(CONTINUATION, END_HEADERS, 5, b),
            ]),
            &conn(&[
                frame(HEADERS, 0, 5, x),
                frame(CONTINUATION, END_HEADERS, 5, y),
            ]),
        );
    }

    #[test]
    fn anything_unexpected_passes_unchanged() {
        let interrupted = conn(&[
            frame(HEADERS, 0, 1, BAD),
            frame(DATA, 0, 1, b"x"),
            frame(CONTINUATION, END_HEADERS, 1, &[]),
        ]);
        let wrong_stream = conn(&[
            frame(HEADERS, 0, 1, BAD),
            frame(CONTINUATION, END_HEADERS, 3, &[]),
        ]);
        let unterminated = conn(&[frame(HEADERS, 0, 1, BAD)]);
        let bad_padding = conn(&[frame(
            HEADERS,
            END_HEADERS | PADDED,
            1,
            &[200, 0x41, 1, b'%'],
        )]);
        let mut undecodable = BAD.to_vec();
        undecodable.extend([0x41, 0x7f]);
        let undecodable = conn(&[frame(HEADERS, END_HEADERS, 1, &undecodable)]);
        let mut not_h2 = b"GET / HTTP/1.1\r\n\r\n".to_vec();
        not_h2.extend(frame(HEADERS, END_HEADERS, 1, BAD));
        let mut short_preface = PREFACE[..10].to_vec();
        short_preface.extend(b"X");
        for input in [
            interrupted,
            wrong_stream,
            unterminated,
            bad_padding,
            undecodable,
            not_h2,
            short_preface,
        ] {
            check(&input, &input);
        }
    }

    #[test]
    fn oversized_blocks_pass_unrepaired() {
        let mut big = BAD.to_vec();
        big.resize(MAX_BLOCK, b'y');
        let input = conn(&[frame(HEADERS, END_HEADERS, 1, &big)]);
        check(&input, &input);
        // A small first frame is held, then given up when a continuation makes it too large.
        let input = conn(&[
            frame(HEADERS, 0, 1, BAD),
            frame(CONTINUATION, END_HEADERS, 1, &big[BAD.len()..]),
        ]);
        check(&input, &input);
    }

    #[test]
    fn output_never_runs_ahead_of_a_held_block() {
        let mut s = Scanner::default();
        let mut out = Vec::new();
        let headers = frame(HEADERS, 0, 1, BAD);
        s.feed(&conn(&[headers]), &mut out);
        assert_eq!(out, PREFACE, "the unfinished block is held");
        s.feed(&frame(CONTINUATION, END_HEADERS, 1, &[0x83]), &mut out);
        let want = conn(&[
            frame(HEADERS, 0, 1, FIXED),
            frame(CONTINUATION, END_HEADERS, 1, &[0x83]),
        ]);
        assert_eq!(out, want);
    }
}

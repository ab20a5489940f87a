//! `--since` / `--until` values: Go durations ago, or the absolute layouts of Hubble's
//! `pkg/time` (parsed with Go's `time.Parse` rules: exact digit counts, UTC unless a zone
//! is given, an optional fraction after the seconds).

use chrono::{
    DateTime, Datelike, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta,
    TimeZone, Utc,
};
use flowscope_proto::types::Timestamp;

use crate::flags::FlagError;

/// Parses a `--since` / `--until` value into a Timestamp.
///
/// - A Go duration (`3s`, `4m`, `1h43m`, `500ms`, `1.5h`, `-5m`) means `now` minus it.
/// - `2006-01-02`, `2006-01-02T15Z07:00`, `2006-01-02T15:04Z07:00` and RFC3339
///   (`2006-01-02T15:04:05Z07:00`, with an optional fraction of any precision) are UTC
///   unless they carry an offset (`Z` or `±hh:mm`).
/// - RFC1123Z: `Mon, 02 Jan 2006 15:04:05 -0700` (the weekday is not checked, as in Go).
/// - StampMilli, the compact printer's time: `Jan _2 15:04:05.000` in the local time zone
///   and in the year of `now` there.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<Timestamp, FlagError> {
    let input = s.trim();
    let invalid = || FlagError::InvalidTime {
        value: s.to_string(),
    };
    let time = if let Some(nanos) = go_duration(input) {
        let delta = i64::try_from(nanos)
            .map(TimeDelta::nanoseconds)
            .map_err(|_| invalid())?;
        now.checked_sub_signed(delta).ok_or_else(invalid)?
    } else {
        absolute(input, now).ok_or_else(invalid)?
    };
    to_timestamp(time).ok_or_else(invalid)
}

/// A Timestamp inside protobuf's valid range (years 1 to 9999).
fn to_timestamp(time: DateTime<Utc>) -> Option<Timestamp> {
    const MIN_SECONDS: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
    const MAX_SECONDS: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let seconds = time.timestamp();
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return None;
    }
    let nanos = i32::try_from(time.timestamp_subsec_nanos()).ok()?;
    Some(Timestamp { seconds, nanos })
}

/// Go's `time.ParseDuration`, in nanoseconds: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units
/// ns, us, µs, μs, ms, s, m, h; a bare `0` is allowed. `None` if invalid or beyond ±2^63 ns.
pub(crate) fn go_duration(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let limit: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let mut int: u128 = 0;
        for d in int_digits.bytes() {
            int = int.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
            if int > limit {
                return None;
            }
        }
        rest = after;
        let (mut frac, mut scale, mut frac_len) = (0u128, 1u128, 0usize);
        if let Some(after_dot) = rest.strip_prefix('.') {
            frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            // Digits beyond nanosecond precision (times an hour) cannot change the result.
            for d in after_dot.bytes().take(frac_len.min(24)) {
                frac = frac * 10 + u128::from(d - b'0');
                scale *= 10;
            }
            rest = &after_dot[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let (unit, after_unit) = rest.split_at(unit_len);
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = after_unit;
        total = total
            .checked_add(int.checked_mul(unit_ns)?)?
            .checked_add(frac * unit_ns / scale)?;
        if total > limit {
            return None;
        }
    }
    if negative {
        Some(-i128::try_from(total).ok()?)
    } else if total < limit {
        i128::try_from(total).ok()
    } else {
        None
    }
}

/// A tiny cursor over ASCII input, for Go-style fixed layouts.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            s: s.as_bytes(),
            i: 0,
        }
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn lit(&mut self, c: u8) -> Option<()> {
        if self.peek()? != c {
            return None;
        }
        self.i += 1;
        Some(())
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let end = self.i.checked_add(n)?;
        let chunk = self.s.get(self.i..end)?;
        let mut v = 0u32;
        for &d in chunk {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(d - b'0');
        }
        self.i = end;
        Some(v)
    }

    /// One or two digits (Go's `_2` / `2`).
    fn digits_1_2(&mut self) -> Option<u32> {
        let first = self.digits(1)?;
        match self.peek() {
            Some(d) if d.is_ascii_digit() => {
                self.i += 1;
                Some(first * 10 + u32::from(d - b'0'))
            }
            _ => Some(first),
        }
    }

    /// An optional `.ddd` / `,ddd` fraction of any length, as nanoseconds.
    fn fraction(&mut self) -> Option<u32> {
        if !matches!(self.peek(), Some(b'.' | b',')) {
            return Some(0);
        }
        self.i += 1;
        let start = self.i;
        while matches!(self.peek(), Some(d) if d.is_ascii_digit()) {
            self.i += 1;
        }
        let digits = self.s.get(start..self.i)?;
        if digits.is_empty() {
            return None;
        }
        let mut nanos = 0u32;
        for k in 0..9 {
            nanos = nanos * 10 + digits.get(k).map_or(0, |d| u32::from(d - b'0'));
        }
        Some(nanos)
    }

    /// A three-letter English name from `names`, case-insensitive; returns its index + 1.
    fn name(&mut self, names: &[&str]) -> Option<u32> {
        let chunk = self.s.get(self.i..self.i.checked_add(3)?)?;
        let pos = names
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(chunk))?;
        self.i += 3;
        u32::try_from(pos + 1).ok()
    }

    /// Go's `Z07:00`: `Z` or `±hh:mm`, as seconds east of UTC.
    fn zone_colon(&mut self) -> Option<i32> {
        match self.peek()? {
            b'Z' => {
                self.i += 1;
                Some(0)
            }
            sign @ (b'+' | b'-') => {
                self.i += 1;
                let h = self.digits(2)?;
                self.lit(b':')?;
                let m = self.digits(2)?;
                offset(sign, h, m)
            }
            _ => None,
        }
    }

    /// Go's `-0700`: `±hhmm`.
    fn zone_numeric(&mut self) -> Option<i32> {
        let sign = self.peek()?;
        if sign != b'+' && sign != b'-' {
            return None;
        }
        self.i += 1;
        let h = self.digits(2)?;
        let m = self.digits(2)?;
        offset(sign, h, m)
    }
}

fn offset(sign: u8, h: u32, m: u32) -> Option<i32> {
    if h > 23 || m > 59 {
        return None;
    }
    let secs = i32::try_from(h * 3600 + m * 60).ok()?;
    Some(if sign == b'-' { -secs } else { secs })
}

const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn absolute(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    iso(s)
        .or_else(|| rfc1123z(s))
        .or_else(|| stamp_milli(s, now))
}

fn at(date: NaiveDate, h: u32, m: u32, sec: u32, nanos: u32, east: i32) -> Option<DateTime<Utc>> {
    let time = NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
    let zone = FixedOffset::east_opt(east)?;
    let local = NaiveDateTime::new(date, time);
    Some(
        zone.from_local_datetime(&local)
            .single()?
            .with_timezone(&Utc),
    )
}

/// `2006-01-02`, `2006-01-02T15Z07:00`, `2006-01-02T15:04Z07:00`, RFC3339 with any fraction.
fn iso(s: &str) -> Option<DateTime<Utc>> {
    let mut c = Cursor::new(s);
    let year = c.digits(4)?;
    c.lit(b'-')?;
    let month = c.digits(2)?;
    c.lit(b'-')?;
    let day = c.digits(2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    if c.done() {
        return at(date, 0, 0, 0, 0, 0);
    }
    c.lit(b'T')?;
    let hour = c.digits(2)?;
    let (mut minute, mut second, mut nanos) = (0, 0, 0);
    if c.lit(b':').is_some() {
        minute = c.digits(2)?;
        if c.lit(b':').is_some() {
            second = c.digits(2)?;
            nanos = c.fraction()?;
        }
    }
    let east = c.zone_colon()?;
    if !c.done() {
        return None;
    }
    at(date, hour, minute, second, nanos, east)
}

/// RFC1123Z: `Mon, 02 Jan 2006 15:04:05 -0700`.
fn rfc1123z(s: &str) -> Option<DateTime<Utc>> {
    let mut c = Cursor::new(s);
    c.name(WEEKDAYS)?;
    c.lit(b',')?;
    c.lit(b' ')?;
    let day = c.digits(2)?;
    c.lit(b' ')?;
    let month = c.name(MONTHS)?;
    c.lit(b' ')?;
    let year = c.digits(4)?;
    c.lit(b' ')?;
    let (hour, minute, second, nanos) = clock(&mut c)?;
    c.lit(b' ')?;
    let east = c.zone_numeric()?;
    if !c.done() {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    at(date, hour, minute, second, nanos, east)
}

/// `15:04:05` plus an optional fraction.
fn clock(c: &mut Cursor<'_>) -> Option<(u32, u32, u32, u32)> {
    let hour = c.digits(2)?;
    c.lit(b':')?;
    let minute = c.digits(2)?;
    c.lit(b':')?;
    let second = c.digits(2)?;
    let nanos = c.fraction()?;
    Some((hour, minute, second, nanos))
}

/// StampMilli `Jan _2 15:04:05.000` (the day may be space-padded), local time zone, in the
/// local year of `now`.
fn stamp_milli(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut c = Cursor::new(s);
    let month = c.name(MONTHS)?;
    c.lit(b' ')?;
    let _ = c.lit(b' ');
    let day = c.digits_1_2()?;
    c.lit(b' ')?;
    let (hour, minute, second, nanos) = clock(&mut c)?;
    if !c.done() {
        return None;
    }
    let year = now.with_timezone(&Local).year();
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let local = Local
        .from_local_datetime(&NaiveDateTime::new(date, time))
        .earliest()?;
    Some(local.with_timezone(&Utc))
}

//! Go `time.Format` with an arbitrary layout (`"2006-01-02 15:04:05"`), for
//! `--time-format` values that are layouts rather than Hubble's format names. The layout
//! elements are Go's (`time/format.go`, `nextStdChunk`); everything else is literal.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// One layout element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    /// `-0700`-style offsets: (colons, seconds, hours only, `Z` for UTC).
    NumTz(bool, bool, bool, bool),
    /// `.000` (`zeros`) or `.999` (trimmed), with the separator and the digit count.
    Frac(u8, usize, bool),
}

/// Go's `nextStdChunk`: the literal prefix, the element, and the rest of the layout.
fn next_chunk(layout: &str) -> Option<(&str, Std, &str)> {
    let b = layout.as_bytes();
    for i in 0..b.len() {
        let rest = &layout[i..];
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if rest.starts_with("January") => Some((Std::LongMonth, 7)),
            b'J' if rest.starts_with("Jan") => Some((Std::Month, 3)),
            b'M' if rest.starts_with("Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if rest.starts_with("Mon") => Some((Std::WeekDay, 3)),
            b'M' if rest.starts_with("MST") => Some((Std::Tz, 3)),
            b'0' if rest.starts_with("002") => Some((Std::ZeroYearDay, 3)),
            b'0' => match b.get(i + 1) {
                Some(b'1') => Some((Std::ZeroMonth, 2)),
                Some(b'2') => Some((Std::ZeroDay, 2)),
                Some(b'3') => Some((Std::ZeroHour12, 2)),
                Some(b'4') => Some((Std::ZeroMinute, 2)),
                Some(b'5') => Some((Std::ZeroSecond, 2)),
                Some(b'6') => Some((Std::Year, 2)),
                _ => None,
            },
            b'1' if rest.starts_with("15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if rest.starts_with("2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            // `_2006` is a literal `_` then the year.
            b'_' if rest.starts_with("_2") && !rest.starts_with("_2006") => {
                Some((Std::UnderDay, 2))
            }
            b'_' if rest.starts_with("__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if rest.starts_with("PM") => Some((Std::PM, 2)),
            b'p' if rest.starts_with("pm") => Some((Std::Pm, 2)),
            b'-' | b'Z' => {
                let z = b[i] == b'Z';
                [
                    ("070000", false, true, false),
                    ("07:00:00", true, true, false),
                    ("0700", false, false, false),
                    ("07:00", true, false, false),
                    ("07", false, false, true),
                ]
                .iter()
                .find(|(pat, ..)| rest[1..].starts_with(pat))
                .map(|(pat, colon, secs, short)| {
                    (Std::NumTz(*colon, *secs, *short, z), pat.len() + 1)
                })
            }
            b'.' | b',' => match b.get(i + 1) {
                Some(&d @ (b'0' | b'9')) => {
                    let n = b[i + 1..].iter().take_while(|&&c| c == d).count();
                    // Only a fraction if no digit follows the run.
                    if b.get(i + 1 + n).is_some_and(u8::is_ascii_digit) {
                        None
                    } else {
                        Some((Std::Frac(b[i], n, d == b'0'), n + 1))
                    }
                }
                _ => None,
            },
            _ => None,
        };
        if let Some((std, len)) = found {
            return Some((&layout[..i], std, &layout[i + len..]));
        }
    }
    None
}

/// Whether `s` reads as a Go layout: it has a layout element and one of the unmistakable
/// ones (`2006`, `01`, `02`, `15`, `04`, `05`, `Jan`, `Mon`, …), so that a misspelt format
/// name such as `rfc3339mili` still falls back to StampMilli, as in Hubble.
pub fn is_layout(s: &str) -> bool {
    const STRONG: &[&str] = &[
        "2006", "06", "01", "02", "15", "03", "04", "05", "Jan", "Mon", "MST", "PM", "pm",
    ];
    next_chunk(s).is_some() && STRONG.iter().any(|t| s.contains(t))
}

/// `dt.Format(layout)` as Go renders it.
pub fn format(dt: &DateTime<FixedOffset>, layout: &str) -> String {
    let mut out = String::with_capacity(layout.len() + 8);
    let mut rest = layout;
    let month = dt.month0() as usize;
    let weekday = dt.weekday().num_days_from_monday() as usize;
    let offset = dt.offset().local_minus_utc();
    while let Some((prefix, std, after)) = next_chunk(rest) {
        out.push_str(prefix);
        rest = after;
        let hour12 = match dt.hour() % 12 {
            0 => 12,
            h => h,
        };
        let text = match std {
            Std::LongMonth => MONTHS[month].to_string(),
            Std::Month => MONTHS[month][..3].to_string(),
            Std::NumMonth => dt.month().to_string(),
            Std::ZeroMonth => format!("{:02}", dt.month()),
            Std::LongWeekDay => WEEKDAYS[weekday].to_string(),
            Std::WeekDay => WEEKDAYS[weekday][..3].to_string(),
            Std::Day => dt.day().to_string(),
            Std::UnderDay => format!("{:>2}", dt.day()),
            Std::ZeroDay => format!("{:02}", dt.day()),
            Std::UnderYearDay => format!("{:>3}", dt.ordinal()),
            Std::ZeroYearDay => format!("{:03}", dt.ordinal()),
            Std::Hour => format!("{:02}", dt.hour()),
            Std::Hour12 => hour12.to_string(),
            Std::ZeroHour12 => format!("{hour12:02}"),
            Std::Minute => dt.minute().to_string(),
            Std::ZeroMinute => format!("{:02}", dt.minute()),
            Std::Second => dt.second().to_string(),
            Std::ZeroSecond => format!("{:02}", dt.second()),
            Std::LongYear => format!("{:04}", dt.year()),
            Std::Year => format!("{:02}", dt.year().rem_euclid(100)),
            Std::PM => (if dt.hour() >= 12 { "PM" } else { "AM" }).to_string(),
            Std::Pm => (if dt.hour() >= 12 { "pm" } else { "am" }).to_string(),
            // Timestamps are shown in UTC (or a fixed offset, which has no abbreviation).
            Std::Tz if offset == 0 => "UTC".to_string(),
            Std::Tz => numeric_tz(offset, false, false, false),
            Std::NumTz(_, _, _, true) if offset == 0 => "Z".to_string(),
            Std::NumTz(colon, secs, short, _) => numeric_tz(offset, colon, secs, short),
            Std::Frac(sep, digits, zeros) => {
                let nanos = dt.nanosecond() % 1_000_000_000;
                let digits = digits.min(9);
                let scaled = nanos / 10u32.pow(9 - digits as u32);
                let text = format!("{scaled:0digits$}");
                if zeros {
                    format!("{}{text}", sep as char)
                } else {
                    let trimmed = text.trim_end_matches('0');
                    if trimmed.is_empty() {
                        String::new()
                    } else {
                        format!("{}{trimmed}", sep as char)
                    }
                }
            }
        };
        out.push_str(&text);
    }
    out.push_str(rest);
    out
}

fn numeric_tz(offset: i32, colon: bool, secs: bool, short: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    let sep = if colon { ":" } else { "" };
    let mut out = format!("{sign}{h:02}");
    if !short {
        out.push_str(&format!("{sep}{m:02}"));
    }
    if secs {
        out.push_str(&format!("{sep}{s:02}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset_secs: i32) -> DateTime<FixedOffset> {
        // 2023-08-03T07:04:05.080123Z, a Thursday.
        let utc = DateTime::from_timestamp(1_691_046_245, 80_123_000).expect("time");
        utc.with_timezone(&FixedOffset::east_opt(offset_secs).expect("offset"))
    }

    #[test]
    fn layouts_as_go() {
        let t = at(0);
        assert_eq!(format(&t, "2006-01-02 15:04:05"), "2023-08-03 07:04:05");
        assert_eq!(format(&t, "Jan _2 15:04:05.000"), "Aug  3 07:04:05.080");
        assert_eq!(
            format(&t, "Monday, January 2, 2006 3:04PM MST"),
            "Thursday, August 3, 2023 7:04AM UTC"
        );
        assert_eq!(
            format(&t, "02/01/06 03:04:05.999999 pm Z07:00"),
            "03/08/23 07:04:05.080123 am Z"
        );
        assert_eq!(
            format(&t, "2006-01-02T15:04:05.999999999Z07:00"),
            "2023-08-03T07:04:05.080123Z"
        );
        assert_eq!(format(&t, "__2 002 _2006"), "215 215 _2023");
        assert_eq!(
            format(&at(5400), "15:04 -07:00 -0700 -07 MST"),
            "08:34 +01:30 +0130 +01 +0130"
        );
        assert_eq!(format(&t, "at 5.9s"), "at 5s");
        assert!(is_layout("2006-01-02"));
        assert!(!is_layout("nope"));
        assert!(!is_layout("rfc3339mili"));
    }
}

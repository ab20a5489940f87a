//! Timestamp rendering with Go `time.Format` layouts, as `hubble observe --time-format`.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Local, Timelike, Utc};
use flowscope_proto::types::Timestamp;

/// The `--time-format` names Hubble accepts (`hubble/pkg/time.FormatNames`), or a Go
/// layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimeFormat {
    /// `Jan _2 15:04:05.000` (Go `time.StampMilli`, the default).
    #[default]
    StampMilli,
    /// `2006-01-02`.
    YearMonthDay,
    /// `2006-01-02T15Z07:00`.
    YearMonthDayHour,
    /// `2006-01-02T15:04Z07:00`.
    YearMonthDayHourMinute,
    /// `2006-01-02T15:04:05Z07:00`.
    Rfc3339,
    /// `2006-01-02T15:04:05.999Z07:00` (trailing zeros of the fraction dropped).
    Rfc3339Milli,
    /// `2006-01-02T15:04:05.999999Z07:00`.
    Rfc3339Micro,
    /// `2006-01-02T15:04:05.999999999Z07:00`.
    Rfc3339Nano,
    /// `Mon, 02 Jan 2006 15:04:05 -0700`.
    Rfc1123Z,
    /// Any other Go layout, e.g. `2006-01-02 15:04:05` (a flowctl extension).
    Custom(&'static str),
}

const NAMES: &[(&str, TimeFormat)] = &[
    ("StampMilli", TimeFormat::StampMilli),
    ("YearMonthDay", TimeFormat::YearMonthDay),
    ("YearMonthDayHour", TimeFormat::YearMonthDayHour),
    ("YearMonthDayHourMinute", TimeFormat::YearMonthDayHourMinute),
    ("RFC3339", TimeFormat::Rfc3339),
    ("RFC3339Milli", TimeFormat::Rfc3339Milli),
    ("RFC3339Micro", TimeFormat::Rfc3339Micro),
    ("RFC3339Nano", TimeFormat::Rfc3339Nano),
    ("RFC1123Z", TimeFormat::Rfc1123Z),
];

impl TimeFormat {
    /// Hubble's `FormatNameToLayout`: case-insensitive, and anything unknown is StampMilli;
    /// flowctl also takes a Go layout (see [`super::golayout::is_layout`]).
    pub fn from_name_lenient(name: &str) -> Self {
        if let Ok(known) = name.parse() {
            return known;
        }
        if super::golayout::is_layout(name) {
            // One flag value per run: leaking it keeps TimeFormat (and PrinterOptions) Copy.
            return TimeFormat::Custom(Box::leak(name.to_string().into_boxed_str()));
        }
        TimeFormat::StampMilli
    }

    /// The canonical name (`RFC3339Milli`), or the layout of a custom format.
    pub fn name(self) -> &'static str {
        if let TimeFormat::Custom(layout) = self {
            return layout;
        }
        NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("StampMilli", |(n, _)| *n)
    }
}

impl FromStr for TimeFormat {
    type Err = String;

    /// Case-insensitive name lookup; an unknown name is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(s))
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown time format {s:?}; valid formats: {}",
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The zone timestamps are shown in.
///
/// Hubble converts with `timestamppb.AsTime()`, which yields UTC, so [`TimeZone::Utc`] is
/// the compatible default; [`TimeZone::Local`] follows `TZ` / the system zone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeZone {
    /// UTC (what `hubble observe` prints).
    #[default]
    Utc,
    /// The local zone (`TZ`, else the system zone).
    Local,
    /// A fixed offset.
    Fixed(FixedOffset),
}

// Go's `Timestamp.IsValid` bounds: 0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z.
const MIN_VALID_SECONDS: i64 = -62_135_596_800;
const MAX_VALID_SECONDS: i64 = 253_402_300_799;

/// Hubble's `fmtTimestamp`: `N/A` for a missing or invalid timestamp, else the time in
/// `zone` rendered with `format`.
pub fn format_timestamp(ts: Option<&Timestamp>, format: TimeFormat, zone: TimeZone) -> String {
    let Some(ts) = ts else {
        return "N/A".to_string();
    };
    if !(MIN_VALID_SECONDS..=MAX_VALID_SECONDS).contains(&ts.seconds)
        || !(0..1_000_000_000).contains(&ts.nanos)
    {
        return "N/A".to_string();
    }
    let nanos = u32::try_from(ts.nanos).unwrap_or(0);
    let Some(utc) = DateTime::<Utc>::from_timestamp(ts.seconds, nanos) else {
        return "N/A".to_string();
    };
    let dt: DateTime<FixedOffset> = match zone {
        TimeZone::Utc => utc.fixed_offset(),
        TimeZone::Local => utc.with_timezone(&Local).fixed_offset(),
        TimeZone::Fixed(offset) => utc.with_timezone(&offset),
    };
    format_datetime(&dt, format)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Renders `dt` exactly as Go's `Time.Format` does with the layout of `format`.
pub fn format_datetime(dt: &DateTime<FixedOffset>, format: TimeFormat) -> String {
    let mut s = String::with_capacity(36);
    let month = MONTHS.get(dt.month0() as usize).copied().unwrap_or("???");
    let (year, mon, day) = (dt.year(), dt.month(), dt.day());
    let (hour, min, sec) = (dt.hour(), dt.minute(), dt.second());
    // chrono reports a leap second as nanos >= 1e9; Go never produces one.
    let nanos = dt.nanosecond() % 1_000_000_000;
    let offset = dt.offset().local_minus_utc();
    // Writing into a String cannot fail.
    let _ = match format {
        TimeFormat::Custom(layout) => {
            s.push_str(&super::golayout::format(dt, layout));
            Ok(())
        }
        TimeFormat::StampMilli => write!(
            s,
            "{month} {day:>2} {hour:02}:{min:02}:{sec:02}.{:03}",
            nanos / 1_000_000
        ),
        TimeFormat::YearMonthDay => write!(s, "{year:04}-{mon:02}-{day:02}"),
        TimeFormat::YearMonthDayHour => {
            let _ = write!(s, "{year:04}-{mon:02}-{day:02}T{hour:02}");
            push_zone_colon(&mut s, offset);
            Ok(())
        }
        TimeFormat::YearMonthDayHourMinute => {
            let _ = write!(s, "{year:04}-{mon:02}-{day:02}T{hour:02}:{min:02}");
            push_zone_colon(&mut s, offset);
            Ok(())
        }
        TimeFormat::Rfc3339
        | TimeFormat::Rfc3339Milli
        | TimeFormat::Rfc3339Micro
        | TimeFormat::Rfc3339Nano => {
            let _ = write!(s, "{year:04}-{mon:02}-{day:02}T{hour:02}:{min:02}:{sec:02}");
            let digits = match format {
                TimeFormat::Rfc3339Milli => 3,
                TimeFormat::Rfc3339Micro => 6,
                TimeFormat::Rfc3339Nano => 9,
                _ => 0,
            };
            push_trimmed_fraction(&mut s, nanos, digits);
            push_zone_colon(&mut s, offset);
            Ok(())
        }
        TimeFormat::Rfc1123Z => {
            let weekday = WEEKDAYS
                .get(dt.weekday().num_days_from_monday() as usize)
                .copied()
                .unwrap_or("???");
            let _ = write!(
                s,
                "{weekday}, {day:02} {month} {year:04} {hour:02}:{min:02}:{sec:02} "
            );
            push_zone_numeric(&mut s, offset, false);
            Ok(())
        }
    };
    s
}

/// Go's `.999…` layout element: `digits` digits of the fraction (truncated), trailing zeros
/// removed, and nothing at all (not even the dot) when they are all zero.
fn push_trimmed_fraction(s: &mut String, nanos: u32, digits: u32) {
    if digits == 0 {
        return;
    }
    let scaled = nanos / 10u32.pow(9 - digits);
    if scaled == 0 {
        return;
    }
    let text = format!("{scaled:0width$}", width = digits as usize);
    s.push('.');
    s.push_str(text.trim_end_matches('0'));
}

/// Go's `Z07:00`: `Z` for UTC, else `±hh:mm`.
fn push_zone_colon(s: &mut String, offset: i32) {
    if offset == 0 {
        s.push('Z');
    } else {
        push_zone_numeric(s, offset, true);
    }
}

/// Go's `-0700` (or `-07:00` with `colon`).
fn push_zone_numeric(s: &mut String, offset: i32, colon: bool) {
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    let _ = if colon {
        write!(s, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    } else {
        write!(s, "{sign}{:02}{:02}", minutes / 60, minutes % 60)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    // 2023-08-23T15:43:24.080123456Z
    const T: i64 = 1_692_805_404;

    #[test]
    fn stamp_milli_pads_the_day_with_a_space() {
        let t = ts(T, 80_123_456);
        assert_eq!(
            format_timestamp(Some(&t), TimeFormat::StampMilli, TimeZone::Utc),
            "Aug 23 15:43:24.080"
        );
        // 2024-01-02T03:04:05.999999999Z: truncation, not rounding.
        let t = ts(1_704_164_645, 999_999_999);
        assert_eq!(
            format_timestamp(Some(&t), TimeFormat::StampMilli, TimeZone::Utc),
            "Jan  2 03:04:05.999"
        );
    }

    #[test]
    fn rfc3339_variants_trim_like_go() {
        let t = ts(T, 80_123_456);
        let f = |fmt| format_timestamp(Some(&t), fmt, TimeZone::Utc);
        assert_eq!(f(TimeFormat::Rfc3339), "2023-08-23T15:43:24Z");
        assert_eq!(f(TimeFormat::Rfc3339Milli), "2023-08-23T15:43:24.08Z");
        assert_eq!(f(TimeFormat::Rfc3339Micro), "2023-08-23T15:43:24.080123Z");
        assert_eq!(f(TimeFormat::Rfc3339Nano), "2023-08-23T15:43:24.080123456Z");
        assert_eq!(f(TimeFormat::Rfc1123Z), "Wed, 23 Aug 2023 15:43:24 +0000");
        assert_eq!(f(TimeFormat::YearMonthDay), "2023-08-23");
        assert_eq!(f(TimeFormat::YearMonthDayHour), "2023-08-23T15Z");
        assert_eq!(f(TimeFormat::YearMonthDayHourMinute), "2023-08-23T15:43Z");
        let whole = ts(T, 0);
        assert_eq!(
            format_timestamp(Some(&whole), TimeFormat::Rfc3339Nano, TimeZone::Utc),
            "2023-08-23T15:43:24Z"
        );
        assert_eq!(
            format_timestamp(Some(&whole), TimeFormat::Rfc3339Milli, TimeZone::Utc),
            "2023-08-23T15:43:24Z"
        );
    }

    #[test]
    fn fixed_offsets_render_as_go_does() {
        let t = ts(T, 500_000_000);
        let plus = TimeZone::Fixed(FixedOffset::east_opt(2 * 3600).expect("offset"));
        let minus = TimeZone::Fixed(FixedOffset::west_opt(5 * 3600 + 1800).expect("offset"));
        assert_eq!(
            format_timestamp(Some(&t), TimeFormat::StampMilli, plus),
            "Aug 23 17:43:24.500"
        );
        assert_eq!(
            format_timestamp(Some(&t), TimeFormat::Rfc3339Milli, plus),
            "2023-08-23T17:43:24.5+02:00"
        );
        assert_eq!(
            format_timestamp(Some(&t), TimeFormat::Rfc1123Z, minus),
            "Wed, 23 Aug 2023 10:13:24 -0530"
        );
        assert_eq!(
            format_timestamp(Some(&t), TimeFormat::YearMonthDayHour, minus),
            "2023-08-23T10-05:30"
        );
    }

    #[test]
    fn invalid_or_missing_is_na() {
        assert_eq!(
            format_timestamp(None, TimeFormat::StampMilli, TimeZone::Utc),
            "N/A"
        );
        let bad = ts(T, -1);
        assert_eq!(
            format_timestamp(Some(&bad), TimeFormat::StampMilli, TimeZone::Utc),
            "N/A"
        );
        let bad = ts(MAX_VALID_SECONDS + 1, 0);
        assert_eq!(
            format_timestamp(Some(&bad), TimeFormat::StampMilli, TimeZone::Utc),
            "N/A"
        );
        let epoch = ts(0, 0);
        assert_eq!(
            format_timestamp(Some(&epoch), TimeFormat::StampMilli, TimeZone::Utc),
            "Jan  1 00:00:00.000"
        );
    }

    #[test]
    fn names_parse_case_insensitively() {
        assert_eq!("rfc3339milli".parse(), Ok(TimeFormat::Rfc3339Milli));
        assert_eq!("StampMilli".parse(), Ok(TimeFormat::StampMilli));
        assert!("nope".parse::<TimeFormat>().is_err());
        assert_eq!(
            TimeFormat::from_name_lenient("nope"),
            TimeFormat::StampMilli
        );
        assert_eq!(
            TimeFormat::from_name_lenient("RFC1123z"),
            TimeFormat::Rfc1123Z
        );
        assert_eq!(TimeFormat::Rfc3339Nano.to_string(), "RFC3339Nano");
        let custom = TimeFormat::from_name_lenient("2006-01-02 15:04:05");
        assert_eq!(custom, TimeFormat::Custom("2006-01-02 15:04:05"));
        assert_eq!(
            format_timestamp(Some(&ts(T, 80_123_456)), custom, TimeZone::Utc),
            "2023-08-23 15:43:24"
        );
        assert_eq!(
            TimeFormat::from_name_lenient("rfc3339mili"),
            TimeFormat::StampMilli
        );
    }
}

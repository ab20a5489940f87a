//! Value parsers with the syntax of Go's `pflag`, so that every `hubble` habit (`--last
//! 0x10`, `--tls=false`, `--timeout 1m30s`) parses the same way in flowctl.

use std::time::Duration;

/// `strconv.ParseBool`: what pflag accepts for `--flag=VALUE` on a bool flag.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// `time.ParseDuration` (`5s`, `1m30s`, `500ms`, `1.5h`). A negative duration is zero: it
/// gives an immediate deadline in Go too.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let nanos =
        crate::request::go_duration(s).ok_or_else(|| format!("time: invalid duration {s:?}"))?;
    Ok(u64::try_from(nanos).map_or(Duration::ZERO, Duration::from_nanos))
}

/// `strconv.ParseUint(s, 0, 64)`, as pflag's uint64 flags: decimal, `0x`/`0o`/`0b`/`0`
/// prefixes, and `_` between digits when a prefix is present.
pub fn parse_uint64(s: &str) -> Result<u64, String> {
    let err = || format!("strconv.ParseUint: parsing {s:?}: invalid syntax");
    let lower = s.to_ascii_lowercase();
    let (digits, radix, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (d.to_string(), 16, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d.to_string(), 8, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d.to_string(), 2, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (lower[1..].to_string(), 8, true)
    } else {
        (lower.clone(), 10, false)
    };
    let digits = if prefixed {
        // Go allows `_` only between digits (or after the prefix).
        if digits.ends_with('_') || digits.contains("__") {
            return Err(err());
        }
        digits.replace('_', "")
    } else {
        digits
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(err());
    }
    u64::from_str_radix(&digits, radix)
        .map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
}

/// Go's `Duration.String()`: `5s`, `1m30s`, `1.5s`, `12ms`, `0s`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let secs = fraction(nanos % 60_000_000_000, 1_000_000_000);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&secs);
    out.push('s');
    out
}

/// `value / scale` with the fraction's trailing zeros removed (`1.5`, `2`).
fn fraction(value: u128, scale: u128) -> String {
    let int = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_as_strconv() {
        assert_eq!(parse_bool("true"), Ok(true));
        assert_eq!(parse_bool("T"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(parse_bool("False"), Ok(false));
        assert!(parse_bool("yes").is_err());
        assert!(parse_bool("fAlse").is_err());
    }

    #[test]
    fn durations_as_go() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("-1s"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("five").is_err());
        assert_eq!(format_duration(Duration::from_secs(5)), "5s");
        assert_eq!(format_duration(Duration::from_secs(12)), "12s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn uints_as_parseuint_base_0() {
        assert_eq!(parse_uint64("20"), Ok(20));
        assert_eq!(parse_uint64("0x10"), Ok(16));
        assert_eq!(parse_uint64("0o17"), Ok(15));
        assert_eq!(parse_uint64("017"), Ok(15));
        assert_eq!(parse_uint64("0b101"), Ok(5));
        assert_eq!(parse_uint64("0"), Ok(0));
        assert_eq!(parse_uint64("0x_1_0"), Ok(16));
        assert!(parse_uint64("1_000").is_err());
        assert!(parse_uint64("-1").is_err());
        assert!(parse_uint64("+1").is_err());
        assert!(parse_uint64("18446744073709551616").is_err());
        assert!(parse_uint64("").is_err());
    }
}

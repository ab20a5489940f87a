//! Sample values and `le` bounds as Go's Prometheus client writes them in the text format
//! 0.0.4 (`strconv.FormatFloat(v, 'g', -1, 64)`): `1` not `1.0`, `0.005`, `1e+06`, `+Inf`.
//! prometheus-client writes Rust floats (`1.0`), which OpenMetrics wants but Hubble's text
//! exposition does not have.

use std::fmt::Write as _;

/// Appends `v` formatted as Go's `%g` with the shortest precision that round-trips, with
/// Prometheus' `+Inf`, `-Inf` and `NaN`.
pub fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-tripping digits, as Go's shortest mode does.
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if v < 0.0 {
        out.push('-');
    }
    // Go: %e when the exponent is < -4 or >= the precision, 6 in shortest mode.
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// `v` (a number as prometheus-client wrote it) in Go's format; other text unchanged.
pub fn push_value(out: &mut String, v: &str) {
    match v.parse::<f64>() {
        Ok(f) if v != "+Inf" && v != "-Inf" && v != "NaN" => push_float(out, f),
        _ => out.push_str(v),
    }
}

/// A sample line with its value in Go's format and, for a histogram bucket, the `le` label
/// moved last (where Go writes it) with its bound in Go's format.
pub fn push_sample(out: &mut String, line: &str) {
    let (series, value) = line.rsplit_once(' ').unwrap_or((line, ""));
    match bucket_parts(series) {
        Some((name, le, rest)) => {
            out.push_str(name);
            out.push('{');
            if !rest.is_empty() {
                out.push_str(rest);
                out.push(',');
            }
            out.push_str("le=\"");
            push_value(out, le);
            out.push_str("\"}");
        }
        None => out.push_str(series),
    }
    if !value.is_empty() {
        out.push(' ');
        push_value(out, value);
    }
}

/// `(name, le value, other labels)` of a `…_bucket{le="…",…}` series as prometheus-client
/// writes it (`le` first).
fn bucket_parts(series: &str) -> Option<(&str, &str, &str)> {
    let (name, labels) = series.split_once('{')?;
    if !name.ends_with("_bucket") {
        return None;
    }
    let labels = labels.strip_suffix('}')?;
    let after = labels.strip_prefix("le=\"")?;
    // A bound is a number: it has no quote to escape.
    let (le, rest) = after.split_once('"')?;
    Some((name, le, rest.strip_prefix(',').unwrap_or(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(v: f64) -> String {
        let mut s = String::new();
        push_float(&mut s, v);
        s
    }

    #[test]
    fn floats_as_go_formats_them() {
        let cases: &[(f64, &str)] = &[
            (0.005, "0.005"),
            (0.01, "0.01"),
            (0.025, "0.025"),
            (0.25, "0.25"),
            (1.0, "1"),
            (2.5, "2.5"),
            (5.0, "5"),
            (10.0, "10"),
            (0.0, "0"),
            (-0.0, "-0"),
            (3.0, "3"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123, "0.000123"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(go(*v), *want, "{v}");
        }
    }

    #[test]
    fn bucket_le_last_and_values_go_formatted() {
        let mut out = String::new();
        for line in [
            r#"d_bucket{le="1.0",method="GET",reporter="server"} 3"#,
            r#"d_bucket{le="+Inf"} 3"#,
            r#"d_sum{method="GET"} 0.0"#,
            r#"d_sum 12.0"#,
            r#"c_total{x="a b"} 7"#,
        ] {
            push_sample(&mut out, line);
            out.push('\n');
        }
        assert_eq!(
            out,
            concat!(
                "d_bucket{method=\"GET\",reporter=\"server\",le=\"1\"} 3\n",
                "d_bucket{le=\"+Inf\"} 3\n",
                "d_sum{method=\"GET\"} 0\n",
                "d_sum 12\n",
                "c_total{x=\"a b\"} 7\n",
            )
        );
    }
}

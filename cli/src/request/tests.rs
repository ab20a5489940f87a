use chrono::{DateTime, Datelike, Local, NaiveDate, TimeZone, Utc};
use clap::{CommandFactory, FromArgMatches};
use flowscope_proto::types::Timestamp;

use super::*;
use crate::flags::filters_from_matches;
use crate::flags::tests::{TestCli, matches};

fn now() -> DateTime<Utc> {
    // 2019-07-01T14:00:00Z, as in Hubble's own time tests.
    Utc.with_ymd_and_hms(2019, 7, 1, 14, 0, 0)
        .single()
        .expect("valid time")
}

fn ts(rfc3339: &str) -> Timestamp {
    let t = DateTime::parse_from_rfc3339(rfc3339).expect("rfc3339");
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).expect("nanos"),
    }
}

fn request(args: &[&str]) -> Result<GetFlowsRequest, FlagError> {
    let m = matches(args);
    let cli = TestCli::from_arg_matches(&m).expect("derive");
    let filters = filters_from_matches(&m)?;
    build_request(&cli.selector, filters, None, now())
}

fn ok(args: &[&str]) -> GetFlowsRequest {
    request(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn err(args: &[&str]) -> String {
    match request(args) {
        Ok(r) => panic!("{args:?} should fail, got {r:?}"),
        Err(e) => e.to_string(),
    }
}

fn json(req: &GetFlowsRequest) -> String {
    flowscope_proto::json::to_string(req)
}

#[test]
fn default_field_mask_is_hubbles() {
    assert_eq!(DEFAULT_FIELD_MASK.len(), 20);
    assert_eq!(
        DEFAULT_FIELD_MASK.join(","),
        "time,verdict,ethernet,IP,l4,source.identity,source.namespace,source.pod_name,\
         destination.identity,destination.namespace,destination.pod_name,Type,node_name,l7,\
         event_type,source_service,destination_service,is_reply,Summary,ip_trace_id"
    );
    assert_eq!(default_field_mask().len(), 20);
}

#[test]
fn selector_numbers() {
    let r = ok(&[]);
    assert_eq!((r.number, r.first, r.follow), (20, false, false));
    assert_eq!(json(&r), r#"{"number":"20"}"#);

    let r = ok(&["--last", "3"]);
    assert_eq!((r.number, r.first, r.follow), (3, false, false));

    let r = ok(&["--first", "2"]);
    assert_eq!((r.number, r.first, r.follow), (2, true, false));
    assert_eq!(json(&r), r#"{"number":"2","first":true}"#);

    let r = ok(&["--all"]);
    assert_eq!((r.number, r.first, r.follow), (u64::MAX, false, false));
    assert_eq!(json(&r), r#"{"number":"18446744073709551615"}"#);

    let r = ok(&["-f"]);
    assert_eq!((r.number, r.first, r.follow), (0, false, true));
    assert_eq!(json(&r), r#"{"follow":true}"#);

    let r = ok(&["--follow", "--last", "5"]);
    assert_eq!((r.number, r.first, r.follow), (5, false, true));

    let r = ok(&["--all", "-f"]);
    assert_eq!((r.number, r.follow), (u64::MAX, true));

    // A count of 0 counts as not given (Hubble: `first > 0`).
    let r = ok(&["--first", "0", "--follow"]);
    assert_eq!((r.number, r.first, r.follow), (0, false, true));
}

#[test]
fn selector_time_range() {
    let r = ok(&["--since", "2019-06-30T18:00:00Z", "--until", "1h"]);
    assert_eq!(r.number, 0);
    assert_eq!(r.since, Some(ts("2019-06-30T18:00:00Z")));
    assert_eq!(r.until, Some(ts("2019-07-01T13:00:00Z")));
    assert_eq!(
        json(&r),
        r#"{"since":"2019-06-30T18:00:00Z","until":"2019-07-01T13:00:00Z"}"#
    );

    let r = ok(&["--since", "10m", "--last", "7"]);
    assert_eq!((r.number, r.since), (7, Some(ts("2019-07-01T13:50:00Z"))));

    // --until is dropped (not even parsed) with --follow.
    let r = ok(&["-f", "--since", "5m", "--until", "garbage"]);
    assert_eq!((r.number, r.follow, r.until), (0, true, None));
    assert_eq!(r.since, Some(ts("2019-07-01T13:55:00Z")));

    let r = ok(&["--first", "4", "--since", "1h"]);
    assert_eq!((r.number, r.first), (4, true));

    assert!(
        err(&["--since", "yesterday"])
            .starts_with(r#"invalid --since value "yesterday": expected a duration"#)
    );
    assert!(err(&["--until", "2019-13-01"]).starts_with(r#"invalid --until value "2019-13-01""#));
}

#[test]
fn rejected_selector_combinations_name_both_flags() {
    assert_eq!(
        err(&["--first", "1", "--last", "2"]),
        "cannot set both --first and --last"
    );
    assert_eq!(
        err(&["--first", "1", "--all"]),
        "cannot set both --first and --all"
    );
    assert_eq!(
        err(&["--first", "1", "-f"]),
        "cannot set both --first and --follow"
    );
    assert_eq!(
        err(&["--last", "1", "--all"]),
        "cannot set both --last and --all"
    );
}

#[test]
fn section_2_example_request() {
    let r = ok(&[
        "--last",
        "3",
        "--from-pod",
        "default/client",
        "--not",
        "--verdict",
        "DROPPED",
    ]);
    assert_eq!(
        json(&r),
        r#"{"number":"3","blacklist":[{"verdict":["DROPPED"]}],"whitelist":[{"source_pod":["default/client"]}]}"#
    );
}

#[test]
fn field_mask() {
    let sel = SelectorFlags::default();
    let r = build_request(&sel, Filters::default(), Some(default_field_mask()), now())
        .expect("request");
    let paths = r.field_mask.expect("mask").paths;
    assert_eq!(paths, DEFAULT_FIELD_MASK);
    assert_eq!(r.number, 20);

    let r = build_request(
        &sel,
        Filters::default(),
        Some(vec!["time".into(), "verdict".into()]),
        now(),
    )
    .expect("request");
    assert_eq!(r.field_mask.expect("mask").paths, ["time", "verdict"]);

    let r = build_request(&sel, Filters::default(), Some(vec![]), now()).expect("request");
    assert_eq!(r.field_mask, None);
    let r = build_request(&sel, Filters::default(), None, now()).expect("request");
    assert_eq!(r.field_mask, None);
}

#[test]
fn selector_flags_are_clap_args() {
    let cmd = TestCli::command();
    let follow = cmd
        .get_arguments()
        .find(|a| a.get_id().as_str() == "follow")
        .expect("follow");
    assert_eq!(follow.get_short(), Some('f'));
    assert!(
        TestCli::command()
            .try_get_matches_from(["--last", "-1"])
            .is_err()
    );
}

#[test]
fn relative_times() {
    let cases = [
        ("10s", "2019-07-01T13:59:50Z"),
        ("3s", "2019-07-01T13:59:57Z"),
        ("4m", "2019-07-01T13:56:00Z"),
        ("5m", "2019-07-01T13:55:00Z"),
        ("20h", "2019-06-30T18:00:00Z"),
        ("1h43m", "2019-07-01T12:17:00Z"),
        ("500ms", "2019-07-01T13:59:59.5Z"),
        ("1.5h", "2019-07-01T12:30:00Z"),
        ("1m30.25s", "2019-07-01T13:58:29.75Z"),
        ("250us", "2019-07-01T13:59:59.99975Z"),
        ("250µs", "2019-07-01T13:59:59.99975Z"),
        ("1ns", "2019-07-01T13:59:59.999999999Z"),
        (".5s", "2019-07-01T13:59:59.5Z"),
        ("0", "2019-07-01T14:00:00Z"),
        ("+1h", "2019-07-01T13:00:00Z"),
        ("-1h", "2019-07-01T15:00:00Z"),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_time(input, now()).expect(input),
            ts(expected),
            "{input}"
        );
    }
    for bad in [
        "",
        "1",
        "5x",
        "h",
        "1.h.",
        "-",
        ".s",
        "1e3s",
        "10000000000h",
        "5 m",
    ] {
        assert!(parse_time(bad, now()).is_err(), "{bad:?}");
    }
}

#[test]
fn absolute_times() {
    let cases = [
        ("2019-06-30T18:00:00Z", "2019-06-30T18:00:00Z"),
        ("2019-06-30", "2019-06-30T00:00:00Z"),
        ("2019-06-30T18Z", "2019-06-30T18:00:00Z"),
        ("2019-06-30T18:45Z", "2019-06-30T18:45:00Z"),
        ("2019-06-30T18+02:00", "2019-06-30T16:00:00Z"),
        ("2019-06-30T18:45+02:00", "2019-06-30T16:45:00Z"),
        ("2019-06-30T18:45-01:30", "2019-06-30T20:15:00Z"),
        ("2023-08-23T15:43:26.081Z", "2023-08-23T15:43:26.081Z"),
        ("2023-08-23T15:43:26.081123Z", "2023-08-23T15:43:26.081123Z"),
        (
            "2023-08-23T15:43:26.080123456Z",
            "2023-08-23T15:43:26.080123456Z",
        ),
        (
            "2023-08-23T15:43:26.0801234567Z",
            "2023-08-23T15:43:26.080123456Z",
        ),
        ("2023-08-23T15:43:26.5+01:00", "2023-08-23T14:43:26.5Z"),
        ("Mon, 02 Jan 2006 15:04:05 -0700", "2006-01-02T22:04:05Z"),
        ("Wed, 23 Aug 2023 15:43:26 +0000", "2023-08-23T15:43:26Z"),
        // Go does not check the weekday.
        ("Fri, 02 Jan 2006 15:04:05 +0100", "2006-01-02T14:04:05Z"),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_time(input, now()).expect(input),
            ts(expected),
            "{input}"
        );
    }
    for bad in [
        "2019-6-30",
        "19-06-30",
        "2019-06-30T18",
        "2019-06-30T18:45",
        "2019-06-30T18:45:00",
        "2019-06-30 18:45:00Z",
        "2019-06-30T25:00:00Z",
        "2019-02-30",
        "2019-06-30T18:00:00+2:00",
        "2019-06-30T18:00:00Zjunk",
        "Mon, 2 Jan 2006 15:04:05 -0700",
        "Mon, 02 Jan 2006 15:04:05 MST",
        "Jan 32 15:04:05.000",
        "yesterday",
    ] {
        assert!(parse_time(bad, now()).is_err(), "{bad:?}");
    }
}

#[test]
fn stamp_milli_is_local_time_in_the_current_year() {
    let year = now().with_timezone(&Local).year();
    let local = |m, d, h, min, s, ms| {
        let naive = NaiveDate::from_ymd_opt(year, m, d)
            .and_then(|date| date.and_hms_milli_opt(h, min, s, ms))
            .expect("valid");
        let t = Local
            .from_local_datetime(&naive)
            .earliest()
            .expect("local time")
            .with_timezone(&Utc);
        Timestamp {
            seconds: t.timestamp(),
            nanos: i32::try_from(t.timestamp_subsec_nanos()).expect("nanos"),
        }
    };
    assert_eq!(
        parse_time("Aug 23 15:43:26.081", now()).expect("stamp"),
        local(8, 23, 15, 43, 26, 81)
    );
    assert_eq!(
        parse_time("Jan  2 15:04:05.000", now()).expect("padded"),
        local(1, 2, 15, 4, 5, 0)
    );
    assert_eq!(
        parse_time("Jan 2 15:04:05.000", now()).expect("unpadded"),
        local(1, 2, 15, 4, 5, 0)
    );
}

#[test]
fn time_error_names_the_value() {
    let e = parse_time("soon", now()).expect_err("invalid");
    assert!(matches!(e, FlagError::InvalidTime { .. }));
    assert!(
        e.to_string()
            .starts_with(r#"invalid time "soon": expected a duration"#)
    );
    // Beyond Go's ±2^63 ns duration range.
    assert!(parse_time("3000000h", now()).is_err());
    assert!(parse_time("2562047h", now()).is_ok());
}

//! `flowctl observe --input-file`: Hubble's offline mode. Reads jsonpb lines
//! (`GetFlowsResponse` objects, as `-o jsonpb` and the exporter write them) and applies the same
//! filter engine as the server, so offline and online filtering cannot drift apart.
//!
//! As Hubble: no selector means every line (the default of 20 does not apply); `--last N` keeps
//! a ring of N (at most 1,000,000); `--first N` stops after N; `--since`/`--until` compare the
//! top-level `time`; `--follow` is ignored; output is in file order; a line longer than 64 KiB
//! aborts; an invalid line is warned about and skipped; a bare Flow without the `{"flow":…}`
//! wrapper parses as an empty response and is dropped.

use std::collections::VecDeque;
use std::io::BufRead;

use flowscope_filter::FlowFilters;
use flowscope_proto::flow::Flow;
use flowscope_proto::observer::GetFlowsResponse;
use flowscope_proto::observer::get_flows_response::ResponseTypes;
use flowscope_proto::types::Timestamp;

/// Hubble's `bufio.Scanner` limit.
pub const MAX_LINE: usize = 64 * 1024;
/// Hubble's cap on `--last` for files.
pub const MAX_LAST: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("bufio.Scanner: token too long")]
    LineTooLong,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("--last is limited to {MAX_LAST} for input files")]
    LastTooLarge,
}

/// Hubble's offline filtering: `IOReaderObserver` hands the filters `res.GetFlow()`, which
/// for a lost event (or any non-flow line) is a nil `*Flow`, whose getters all return zero
/// values. So such a line is filtered exactly as an empty Flow: `-t drop` or `--verdict`
/// drop it, `--not -t drop` keeps it (unlike the server, where lost events skip filters).
fn matches(filters: &FlowFilters, resp: &GetFlowsResponse) -> bool {
    match &resp.response_types {
        Some(ResponseTypes::Flow(flow)) => filters.matches_flow(flow),
        _ => filters.matches_flow(&Flow::default()),
    }
}

/// What to keep from the file.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// Reads `reader`, calling `emit` for each kept response in file order and `warn` for each
/// skipped line. Returns how many lines were skipped as invalid.
pub fn read_responses<R: BufRead>(
    mut reader: R,
    sel: &Selection,
    filters: &FlowFilters,
    mut emit: impl FnMut(&GetFlowsResponse) -> std::io::Result<()>,
    mut warn: impl FnMut(&str),
) -> Result<u64, InputError> {
    if sel.last.is_some_and(|n| n > MAX_LAST) {
        return Err(InputError::LastTooLarge);
    }
    let mut ring: VecDeque<GetFlowsResponse> = VecDeque::new();
    let mut emitted = 0u64;
    let mut invalid = 0u64;
    let mut line = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n =
            std::io::Read::take(&mut reader, MAX_LINE as u64 + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if n > MAX_LINE {
            return Err(InputError::LineTooLong);
        }
        if line.len() > MAX_LINE {
            return Err(InputError::LineTooLong);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let resp: GetFlowsResponse = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                invalid += 1;
                warn(&format!("line {line_no}: invalid JSON, skipped: {e}"));
                continue;
            }
        };
        // A line without a known event (e.g. a bare Flow) is dropped, as Hubble does.
        if resp.response_types.is_none() {
            continue;
        }
        let t = resp.time.map(|t| t.as_unix_nanos());
        let before = |b: Option<Timestamp>| b.zip(t).is_some_and(|(b, t)| t < b.as_unix_nanos());
        let after = |b: Option<Timestamp>| b.zip(t).is_some_and(|(b, t)| t > b.as_unix_nanos());
        if before(sel.since) || after(sel.until) {
            continue;
        }
        if !matches(filters, &resp) {
            continue;
        }
        match sel.last {
            Some(n) => {
                if ring.len() as u64 == n {
                    ring.pop_front();
                }
                ring.push_back(resp);
            }
            None => {
                emit(&resp)?;
                emitted += 1;
                if sel.first.is_some_and(|n| emitted >= n) {
                    break;
                }
            }
        }
    }
    for resp in &ring {
        emit(resp)?;
    }
    Ok(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::flow::{FlowFilter, Verdict};

    const LINES: &str = concat!(
        r#"{"flow":{"time":"2023-08-23T15:43:24.080Z","verdict":"FORWARDED","Summary":"a"},"node_name":"n","time":"2023-08-23T15:43:24.080Z"}"#,
        "\n",
        "not json\n",
        r#"{"flow":{"time":"2023-08-23T15:43:25Z","verdict":"DROPPED","Summary":"b","some_future_field":1},"node_name":"n","time":"2023-08-23T15:43:25Z"}"#,
        "\n",
        r#"{"time":"2023-08-23T15:43:25.5Z","verdict":"DROPPED"}"#,
        "\n",
        r#"{"lost_events":{"source":"OBSERVER_EVENTS_QUEUE","num_events_lost":"42"},"node_name":"n","time":"2023-08-23T15:43:26Z"}"#,
        "\n",
        r#"{"flow":{"time":"2023-08-23T15:43:27Z","verdict":"FORWARDED","Summary":"c"},"node_name":"n","time":"2023-08-23T15:43:27Z"}"#,
        "\n",
    );

    fn run(sel: Selection, filters: FlowFilters) -> (Vec<String>, Vec<String>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        read_responses(
            LINES.as_bytes(),
            &sel,
            &filters,
            |r| {
                out.push(match &r.response_types {
                    Some(flowscope_proto::observer::get_flows_response::ResponseTypes::Flow(f)) => {
                        #[allow(deprecated)]
                        let s = f.summary.clone();
                        s
                    }
                    _ => "lost".to_string(),
                });
                Ok(())
            },
            |w| warnings.push(w.to_string()),
        )
        .expect("read");
        (out, warnings)
    }

    #[test]
    fn all_lines_in_order_invalid_skipped_bare_flow_dropped() {
        let (out, warnings) = run(Selection::default(), FlowFilters::allow_all());
        assert_eq!(out, ["a", "b", "lost", "c"]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("line 2: invalid JSON"));
    }

    #[test]
    fn selectors_and_filters() {
        let last2 = run(
            Selection {
                last: Some(2),
                ..Default::default()
            },
            FlowFilters::allow_all(),
        );
        assert_eq!(last2.0, ["lost", "c"]);
        let first1 = run(
            Selection {
                first: Some(1),
                ..Default::default()
            },
            FlowFilters::allow_all(),
        );
        assert_eq!(first1.0, ["a"]);
        let window = run(
            Selection {
                since: Some(Timestamp::from_unix_nanos(1_692_805_405_000_000_000)),
                until: Some(Timestamp::from_unix_nanos(1_692_805_406_000_000_000)),
                ..Default::default()
            },
            FlowFilters::allow_all(),
        );
        assert_eq!(window.0, ["b", "lost"]);
        let dropped = FlowFilters::new(
            &[FlowFilter {
                verdict: vec![Verdict::Dropped as i32],
                ..Default::default()
            }],
            &[],
        )
        .expect("filter");
        assert_eq!(
            run(Selection::default(), dropped).0,
            ["b"],
            "lost events fail --verdict"
        );
    }

    #[test]
    fn lost_events_are_filtered_as_an_empty_flow() {
        use flowscope_proto::flow::EventTypeFilter;
        let drop_type = FlowFilter {
            event_type: vec![EventTypeFilter {
                r#type: 1,
                ..Default::default()
            }],
            ..Default::default()
        };
        let only_drops = FlowFilters::new(std::slice::from_ref(&drop_type), &[]).expect("filter");
        assert!(
            run(Selection::default(), only_drops).0.is_empty(),
            "-t drop"
        );
        let no_drops = FlowFilters::new(&[], &[drop_type]).expect("filter");
        assert_eq!(
            run(Selection::default(), no_drops).0,
            ["a", "b", "lost", "c"],
            "--not -t drop keeps them"
        );
    }

    #[test]
    fn overlong_line_aborts() {
        let mut text = "x".repeat(MAX_LINE + 10);
        text.push('\n');
        let err = read_responses(
            text.as_bytes(),
            &Selection::default(),
            &FlowFilters::allow_all(),
            |_| Ok(()),
            |_| {},
        )
        .expect_err("too long");
        assert_eq!(err.to_string(), "bufio.Scanner: token too long");
    }
}

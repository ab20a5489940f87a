#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use flowscope_proto::flow::{FlowFilter, HttpHeader, Verdict};
use flowscope_proto::observer::GetFlowsRequest;

use super::fixtures::{self, *};
use super::*;

fn type_text(s: &mut State, text: &str) {
    for c in text.chars() {
        assert_eq!(s.apply(Intent::Edit(Edit::Insert(c))), None);
    }
}

/// The request of a `Requery` effect.
fn requery(effect: Option<Effect>) -> GetFlowsRequest {
    match effect {
        Some(Effect::Requery(q)) => q.request,
        other => panic!("expected a requery, got {other:?}"),
    }
}

fn header(key: &str, value: &str) -> HttpHeader {
    HttpHeader {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn request_id_filter(id: &str) -> FlowFilter {
    FlowFilter {
        http_header: vec![header("X-Request-Id", id), header("x-request-id", id)],
        ..Default::default()
    }
}

// ---- filters → FlowFilter ----

#[test]
fn first_query_asks_for_history_and_follows() {
    let mut s = State::new(&config(10_000), FilterState::default());
    let q = s.query().unwrap();
    assert_eq!(q.generation, 1);
    assert_eq!(q.request.number, 1000);
    // Never more history than the buffer keeps.
    let mut small = State::new(&config(100), FilterState::default());
    assert_eq!(small.query().unwrap().request.number, 100);
    assert!(q.request.follow);
    assert!(!q.request.first);
    assert!(q.request.whitelist.is_empty());
    assert!(q.request.blacklist.is_empty());
    // No field mask: the detail pane shows every field.
    assert_eq!(q.request.field_mask, None);
}

#[test]
fn verdict_cycles_forward_and_back() {
    let mut s = started(100);
    let verdicts = |r: &GetFlowsRequest| -> Vec<Vec<i32>> {
        r.whitelist.iter().map(|f| f.verdict.clone()).collect()
    };
    let r = requery(s.apply(Intent::VerdictNext));
    assert_eq!(verdicts(&r), vec![vec![Verdict::Forwarded as i32]]);
    let r = requery(s.apply(Intent::VerdictNext));
    assert_eq!(
        r.whitelist,
        vec![FlowFilter {
            verdict: vec![Verdict::Dropped as i32],
            ..Default::default()
        }]
    );
    assert_eq!(s.filters.verdict, Some(Verdict::Dropped));
    let r = requery(s.apply(Intent::VerdictPrev));
    assert_eq!(verdicts(&r), vec![vec![Verdict::Forwarded as i32]]);
    // Back past the first verdict is "any verdict" again.
    let r = requery(s.apply(Intent::VerdictPrev));
    assert!(r.whitelist.is_empty());
    assert_eq!(s.filters.verdict, None);
    // Forward through all seven and back to none.
    for v in VERDICT_CYCLE {
        requery(s.apply(Intent::VerdictNext));
        assert_eq!(s.filters.verdict, Some(v));
    }
    requery(s.apply(Intent::VerdictNext));
    assert_eq!(s.filters.verdict, None);
}

#[test]
fn identity_by_name_or_number_on_either_side() {
    let mut s = started(100);
    assert_eq!(s.apply(Intent::EditIdentity), None);
    assert_eq!(s.mode(), Mode::Prompt);
    type_text(&mut s, "ingress");
    let r = requery(s.apply(Intent::Edit(Edit::Submit)));
    assert_eq!(s.mode(), Mode::Flows);
    assert_eq!(
        r.whitelist,
        vec![
            FlowFilter {
                source_identity: vec![8],
                ..Default::default()
            },
            FlowFilter {
                destination_identity: vec![8],
                ..Default::default()
            },
        ]
    );

    // Source only: Tab in the prompt.
    s.apply(Intent::EditIdentity);
    assert_eq!(s.prompt.as_ref().unwrap().input, "ingress");
    s.apply(Intent::Edit(Edit::CycleDirection));
    assert_eq!(s.prompt.as_ref().unwrap().direction, Direction::Source);
    let r = requery(s.apply(Intent::Edit(Edit::Submit)));
    assert_eq!(
        r.whitelist,
        vec![FlowFilter {
            source_identity: vec![8],
            ..Default::default()
        }]
    );

    // Destination: `I` cycles the direction of the active filter.
    let r = requery(s.apply(Intent::CycleIdentityDirection));
    assert_eq!(
        r.whitelist,
        vec![FlowFilter {
            destination_identity: vec![8],
            ..Default::default()
        }]
    );

    // A number.
    s.apply(Intent::EditIdentity);
    s.apply(Intent::Edit(Edit::Clear));
    type_text(&mut s, "25001");
    let r = requery(s.apply(Intent::Edit(Edit::Submit)));
    assert_eq!(
        r.whitelist,
        vec![FlowFilter {
            destination_identity: vec![25001],
            ..Default::default()
        }]
    );

    // Empty input removes the filter.
    s.apply(Intent::EditIdentity);
    s.apply(Intent::Edit(Edit::Clear));
    let r = requery(s.apply(Intent::Edit(Edit::Submit)));
    assert!(r.whitelist.is_empty());
    assert_eq!(s.filters.identity, None);
}

#[test]
fn an_unknown_identity_is_refused_in_the_prompt() {
    let mut s = started(100);
    s.apply(Intent::EditIdentity);
    type_text(&mut s, "no-such-identity");
    assert_eq!(s.apply(Intent::Edit(Edit::Submit)), None);
    let p = s.prompt.as_ref().unwrap();
    assert!(
        p.error.as_deref().unwrap().contains("no-such-identity"),
        "{:?}",
        p.error
    );
    assert_eq!(s.filters, FilterState::default());
    // Editing clears the error; Esc leaves the filters alone.
    s.apply(Intent::Edit(Edit::Backspace));
    assert_eq!(s.prompt.as_ref().unwrap().error, None);
    assert_eq!(s.apply(Intent::Edit(Edit::Cancel)), None);
    assert_eq!(s.mode(), Mode::Flows);
    assert_eq!(s.filters, FilterState::default());
}

#[test]
fn request_id_typed_or_taken_from_the_selected_flow() {
    let mut s = started(100);
    s.apply(Intent::EditRequestId);
    type_text(&mut s, "req-ok");
    let r = requery(s.apply(Intent::Edit(Edit::Submit)));
    assert_eq!(r.whitelist, vec![request_id_filter("req-ok")]);

    // From the selected flow: the newest is selected while following.
    let mut s = started(100);
    feed(&mut s, fixtures::scenario());
    let r = requery(s.apply(Intent::RequestIdFromSelected));
    assert_eq!(r.whitelist, vec![request_id_filter("req-ok")]);
    assert_eq!(s.filters.request_id.as_deref(), Some("req-ok"));

    // Select the denied request (the oldest) and take its id.
    let mut s = started(100);
    feed(&mut s, fixtures::scenario());
    s.apply(Intent::Top);
    let r = requery(s.apply(Intent::RequestIdFromSelected));
    assert_eq!(r.whitelist, vec![request_id_filter("req-denied")]);
}

#[test]
fn a_flow_without_request_id_says_so() {
    let mut s = started(100);
    let mut f = fixtures::scenario().remove(0);
    f.l7 = None;
    feed(&mut s, vec![f]);
    assert_eq!(s.apply(Intent::RequestIdFromSelected), None);
    assert_eq!(
        s.message.as_deref(),
        Some("the selected flow has no X-Request-Id")
    );
    assert_eq!(s.apply(Intent::OpenTrace), None);
    assert!(s.trace.is_none());
}

#[test]
fn filter_line_takes_flowctl_flags() {
    let mut s = started(100);
    s.apply(Intent::EditFilterLine);
    type_text(&mut s, "--from-label app=web --not --verdict DROPPED");
    let r = requery(s.apply(Intent::Edit(Edit::Submit)));
    assert_eq!(
        r.whitelist,
        vec![FlowFilter {
            source_label: vec!["app=web".to_string()],
            ..Default::default()
        }]
    );
    assert_eq!(
        r.blacklist,
        vec![FlowFilter {
            verdict: vec![Verdict::Dropped as i32],
            ..Default::default()
        }]
    );

    // A bad line stays in the prompt with the parser's message.
    s.apply(Intent::EditFilterLine);
    s.apply(Intent::Edit(Edit::Clear));
    type_text(&mut s, "--bogus 1");
    assert_eq!(s.apply(Intent::Edit(Edit::Submit)), None);
    let err = s.prompt.as_ref().unwrap().error.clone().unwrap();
    assert!(err.contains("--bogus"), "{err}");
    // So does a trailing --not, which would negate the interactive filters.
    s.apply(Intent::Edit(Edit::Clear));
    type_text(&mut s, "--identity world --not");
    assert_eq!(s.apply(Intent::Edit(Edit::Submit)), None);
    assert!(s.prompt.as_ref().unwrap().error.is_some());
    assert_eq!(
        s.filters.line,
        "--from-label app=web --not --verdict DROPPED"
    );
}

#[test]
fn filters_combine_with_flag_semantics() {
    // `flowtop --identity ingress`, then a verdict and a request id.
    let mut s = State::new(
        &config(100),
        FilterState {
            line: "--identity ingress".to_string(),
            ..Default::default()
        },
    );
    s.query().unwrap();
    s.apply(Intent::VerdictNext);
    let r = requery(s.apply(Intent::VerdictNext));
    let dropped = vec![Verdict::Dropped as i32];
    assert_eq!(
        r.whitelist,
        vec![
            FlowFilter {
                source_identity: vec![8],
                verdict: dropped.clone(),
                ..Default::default()
            },
            FlowFilter {
                destination_identity: vec![8],
                verdict: dropped.clone(),
                ..Default::default()
            },
        ]
    );
    s.apply(Intent::EditRequestId);
    type_text(&mut s, "it's \"quoted\"");
    let r = requery(s.apply(Intent::Edit(Edit::Submit)));
    let id = "it's \"quoted\"";
    assert_eq!(
        r.whitelist,
        vec![
            FlowFilter {
                source_identity: vec![8],
                verdict: dropped.clone(),
                http_header: request_id_filter(id).http_header,
                ..Default::default()
            },
            FlowFilter {
                destination_identity: vec![8],
                verdict: dropped.clone(),
                http_header: request_id_filter(id).http_header,
                ..Default::default()
            },
        ]
    );
    // `c` keeps the line and clears the rest.
    let r = requery(s.apply(Intent::ClearFilters));
    assert_eq!(
        r.whitelist,
        vec![
            FlowFilter {
                source_identity: vec![8],
                ..Default::default()
            },
            FlowFilter {
                destination_identity: vec![8],
                ..Default::default()
            },
        ]
    );
    // Nothing left to clear: no new query.
    assert_eq!(s.apply(Intent::ClearFilters), None);
}

#[test]
fn a_requery_empties_the_view_and_ignores_the_old_stream() {
    let mut s = started(100);
    feed(&mut s, fixtures::scenario());
    let old = s.generation();
    assert_eq!(s.shown().len(), 6);
    let q = match s.apply(Intent::VerdictNext) {
        Some(Effect::Requery(q)) => q,
        other => panic!("{other:?}"),
    };
    assert_eq!(q.generation, old + 1);
    assert_eq!(s.shown().len(), 0);
    // Late rows of the old query are ignored, the new query's are shown.
    s.update(Update::Rows {
        stream: StreamKind::Main,
        generation: old,
        rows: fixtures::rows(fixtures::scenario()),
        dropped: 0,
    });
    assert_eq!(s.shown().len(), 0);
    feed(&mut s, fixtures::scenario());
    assert_eq!(s.shown().len(), 6);
    // A reconnect restarts the stream: its history replaces the rows.
    s.update(Update::Started {
        stream: StreamKind::Main,
        generation: q.generation,
    });
    assert_eq!(s.shown().len(), 0);
}

// ---- buffer, pause, scrolling ----

#[test]
fn the_buffer_is_bounded_and_counts_what_it_drops() {
    let mut s = started(4);
    feed(&mut s, fixtures::scenario());
    assert_eq!(s.shown().len(), 4);
    assert_eq!(s.dropped(), 2);
    // The two oldest (the denied request and its 403) are gone from the counts too.
    assert_eq!(s.shown().counts().nonzero(), vec![(Verdict::Forwarded, 4)]);
    // Batches the connection could not hand over count as dropped as well.
    let generation = s.generation();
    s.update(Update::Rows {
        stream: StreamKind::Main,
        generation,
        rows: Vec::new(),
        dropped: 10,
    });
    assert_eq!(s.dropped(), 12);
    s.update(Update::Lost {
        stream: StreamKind::Main,
        generation,
        count: 3,
    });
    assert_eq!(s.lost(), 3);
}

#[test]
fn per_verdict_counts_of_what_is_shown() {
    let mut s = started(100);
    feed(&mut s, fixtures::scenario());
    assert_eq!(
        s.shown().counts().nonzero(),
        vec![(Verdict::Forwarded, 5), (Verdict::Dropped, 1)]
    );
}

#[test]
fn pause_freezes_the_view_while_ingestion_goes_on() {
    let mut s = started(5);
    feed(&mut s, fixtures::scenario()[..3].to_vec());
    s.apply(Intent::TogglePause);
    assert!(s.paused());
    let before: Vec<String> = s.visible(10).iter().map(|(_, r)| r.time.clone()).collect();
    feed(&mut s, fixtures::scenario());
    assert_eq!(s.new_since_pause(), 6);
    let after: Vec<String> = s.visible(10).iter().map(|(_, r)| r.time.clone()).collect();
    assert_eq!(before, after);
    assert_eq!(s.shown().len(), 3);
    // The live buffer went on (and dropped what it could not hold).
    assert_eq!(s.dropped(), 4);
    s.apply(Intent::TogglePause);
    assert!(!s.paused());
    assert_eq!(s.shown().len(), 5);
}

#[test]
fn follow_tail_scroll_and_selection_through_evictions() {
    let mut s = started(5);
    s.set_viewport(3);
    feed(&mut s, fixtures::scenario()[..5].to_vec());
    assert!(s.following());
    assert_eq!(s.selected_seq(), Some(4));
    assert_eq!(s.window_top(3), 2);
    s.apply(Intent::Up);
    s.apply(Intent::Up);
    s.apply(Intent::Up);
    assert!(!s.following());
    assert_eq!(s.selected_seq(), Some(1));
    assert_eq!(s.window_top(3), 1);
    // New rows do not move the selection; the selected row is evicted → oldest held.
    feed(&mut s, fixtures::scenario()[5..].to_vec());
    assert_eq!(s.selected_seq(), Some(1));
    feed(&mut s, fixtures::scenario()[..1].to_vec());
    assert_eq!(s.shown().first_seq(), 2);
    assert_eq!(s.selected_seq(), Some(2));
    // Down to the newest row follows the tail again.
    s.apply(Intent::PageDown);
    assert_eq!(s.selected_seq(), Some(4));
    assert!(!s.following());
    s.apply(Intent::Down);
    s.apply(Intent::Down);
    assert!(s.following());
    s.apply(Intent::Top);
    assert_eq!(s.selected_seq(), Some(2));
    s.apply(Intent::Bottom);
    assert!(s.following());
    assert_eq!(s.selected_seq(), Some(6));
}

#[test]
fn prompt_editing_with_multibyte_text() {
    let mut s = started(100);
    s.apply(Intent::EditRequestId);
    type_text(&mut s, "añb");
    s.apply(Intent::Edit(Edit::Left));
    s.apply(Intent::Edit(Edit::Backspace));
    type_text(&mut s, "ü");
    s.apply(Intent::Edit(Edit::Home));
    s.apply(Intent::Edit(Edit::Delete));
    s.apply(Intent::Edit(Edit::End));
    type_text(&mut s, "!");
    let p = s.prompt.as_ref().unwrap();
    assert_eq!(p.input, "üb!");
    assert_eq!(p.cursor, 3);
}

// ---- detail ----

#[test]
fn detail_shows_every_field_and_scrolls() {
    let mut s = started(100);
    s.set_viewport(5);
    feed(&mut s, fixtures::scenario());
    s.apply(Intent::OpenDetail);
    assert_eq!(s.mode(), Mode::Detail);
    let d = s.detail.as_ref().unwrap();
    assert_eq!(d.lines[0], "{");
    assert_eq!(d.lines[1], r#"  "time": "2023-08-23T15:43:24.102Z","#);
    assert!(d.lines.iter().any(|l| l == r#"      "code": 200,"#));
    assert!(d.lines.iter().any(|l| l.contains(r#""value": "req-ok""#)));
    s.apply(Intent::PageDown);
    assert_eq!(s.detail.as_ref().unwrap().scroll, 4);
    s.apply(Intent::Up);
    assert_eq!(s.detail.as_ref().unwrap().scroll, 3);
    s.apply(Intent::Bottom);
    let d = s.detail.as_ref().unwrap();
    assert_eq!(d.scroll, d.lines.len() - 1);
    s.apply(Intent::Back);
    assert!(s.detail.is_none());
}

#[test]
fn indent_keeps_order_strings_and_empty_containers() {
    let json = r#"{"b":"x:{,}\"y","a":[1,{"c":[]}],"d":{}}"#;
    assert_eq!(
        indent(json),
        "{\n  \"b\": \"x:{,}\\\"y\",\n  \"a\": [\n    1,\n    {\n      \"c\": []\n    }\n  ],\n  \"d\": {}\n}"
    );
}

// ---- trace ----

fn shuffled_scenario() -> Vec<Arc<Row>> {
    let f = fixtures::scenario();
    let order = [5, 3, 0, 4, 2, 1];
    fixtures::rows(order.iter().map(|i| f[*i].clone()).collect())
}

#[test]
fn trace_groups_hops_in_time_order_with_latencies() {
    let rows: Vec<Arc<Row>> = shuffled_scenario()
        .into_iter()
        .filter(|r| r.request_id.as_deref() == Some("req-ok"))
        .collect();
    let t = Trace::build("req-ok", &rows);
    let times: Vec<&str> = t.events.iter().map(|e| e.row.time.as_str()).collect();
    assert_eq!(
        times,
        [
            "15:43:24.090",
            "15:43:24.091",
            "15:43:24.095",
            "15:43:24.102"
        ]
    );
    let offsets: Vec<i128> = t.events.iter().map(|e| e.offset_ns / MS).collect();
    assert_eq!(offsets, [0, 1, 5, 12]);
    assert_eq!(t.span_ns(), 12_000_000);
    let hop_of: Vec<usize> = t.events.iter().map(|e| e.hop).collect();
    assert_eq!(hop_of, [0, 1, 1, 0]);

    assert_eq!(t.hops.len(), 2);
    let world = &t.hops[0];
    assert_eq!(world.client, "192.0.2.10:40000");
    assert_eq!(world.client_identity, "world");
    assert_eq!(world.server, "10.0.0.1:80");
    assert_eq!(world.server_identity, "ingress");
    assert_eq!((world.request, world.response), (Some(0), Some(3)));
    assert_eq!(world.latency_ns, Some(12_000_000));
    assert_eq!(world.status, Some(200));
    assert_eq!(world.verdict, "FORWARDED");
    assert_eq!(
        world.summary,
        "HTTP/1.1 GET http://192.168.10.211/productpage"
    );
    let pod = &t.hops[1];
    assert_eq!(pod.client, "10.0.0.1:50000");
    assert_eq!(pod.server, "default/details-v1-79f774bdb9-x2x4k:9080");
    assert_eq!(pod.server_identity, "25001");
    assert_eq!((pod.request, pod.response), (Some(1), Some(2)));
    assert_eq!(pod.latency_ns, Some(4_000_000));
}

#[test]
fn trace_of_a_denied_request_is_dropped() {
    let rows: Vec<Arc<Row>> = shuffled_scenario()
        .into_iter()
        .filter(|r| r.request_id.as_deref() == Some("req-denied"))
        .collect();
    let t = Trace::build("req-denied", &rows);
    assert_eq!(t.hops.len(), 1);
    let h = &t.hops[0];
    // The request was dropped; the 403 response was forwarded: the hop is DROPPED.
    assert_eq!(h.verdict, "DROPPED");
    assert_eq!(h.verdict_class, VerdictClass::Dropped);
    assert_eq!(h.status, Some(403));
    assert_eq!(h.latency_ns, Some(1_000_000));
}

#[test]
fn trace_latency_from_times_retries_and_orphans() {
    use Verdict::Forwarded;
    let url = "http://a/";
    let mut resp1 = fixtures::http(
        7,
        WORLD_CLIENT,
        INGRESS_LISTENER,
        Some((503, 0)),
        Forwarded,
        url,
        "r",
    );
    // No latency from the server: the time difference is used.
    resp1.l7.as_mut().unwrap().latency_ns = 0;
    let flows = vec![
        // A response whose request is not in the ring any more.
        fixtures::http(
            0,
            INGRESS_UPSTREAM,
            DETAILS_POD,
            Some((200, 3)),
            Forwarded,
            url,
            "r",
        ),
        fixtures::http(2, WORLD_CLIENT, INGRESS_LISTENER, None, Forwarded, url, "r"),
        // A retry over the same addresses.
        fixtures::http(8, WORLD_CLIENT, INGRESS_LISTENER, None, Forwarded, url, "r"),
        resp1,
        fixtures::http(
            9,
            WORLD_CLIENT,
            INGRESS_LISTENER,
            Some((200, 1)),
            Forwarded,
            url,
            "r",
        ),
    ];
    let t = Trace::build("r", &fixtures::rows(flows));
    assert_eq!(t.hops.len(), 3);
    assert_eq!((t.hops[0].request, t.hops[0].response), (None, Some(0)));
    assert_eq!(t.hops[0].latency_ns, Some(3_000_000));
    // First request (at 2) pairs with the first response (at 7): 5 ms by the clock.
    assert_eq!((t.hops[1].request, t.hops[1].response), (Some(1), Some(2)));
    assert_eq!(t.hops[1].latency_ns, Some(5_000_000));
    assert_eq!(t.hops[1].status, Some(503));
    assert_eq!((t.hops[2].request, t.hops[2].response), (Some(3), Some(4)));
    assert_eq!(t.hops[2].latency_ns, Some(1_000_000));
}

#[test]
fn trace_view_asks_the_server_and_replaces_the_buffer_seed() {
    let mut s = started(100);
    // Only the pod hop is in the buffer (e.g. because of an identity filter).
    feed(&mut s, fixtures::scenario()[3..5].to_vec());
    let q = match s.apply(Intent::OpenTrace) {
        Some(Effect::Trace(Some(q))) => q,
        other => panic!("{other:?}"),
    };
    assert_eq!(s.mode(), Mode::Trace);
    assert_eq!(q.request.whitelist, vec![request_id_filter("req-ok")]);
    assert_eq!(q.request.number, u64::MAX);
    assert!(q.request.follow);
    let t = s.trace.as_ref().unwrap();
    assert!(!t.from_server);
    assert_eq!(t.trace.events.len(), 2);
    // The flow the trace was opened on (the newest: the pod's response) is selected...
    assert_eq!(t.selected, 1);

    s.update(Update::Started {
        stream: StreamKind::Trace,
        generation: q.generation,
    });
    let all: Vec<Arc<Row>> = fixtures::rows(fixtures::scenario())
        .into_iter()
        .filter(|r| r.request_id.as_deref() == Some("req-ok"))
        .collect();
    s.update(Update::Rows {
        stream: StreamKind::Trace,
        generation: q.generation,
        rows: all,
        dropped: 0,
    });
    let t = s.trace.as_ref().unwrap();
    assert!(t.from_server);
    assert_eq!(t.trace.hops.len(), 2);
    assert_eq!(t.trace.events.len(), 4);
    // ... and stays selected as the server's answer fills the trace in.
    assert_eq!(t.selected, 2);
    assert_eq!(t.trace.events[2].row.time, "15:43:24.095");

    // Selecting and opening the detail of a trace flow.
    s.apply(Intent::Bottom);
    s.apply(Intent::OpenDetail);
    assert_eq!(s.detail.as_ref().unwrap().row.time, "15:43:24.102");
    s.apply(Intent::Back);
    assert_eq!(s.mode(), Mode::Trace);
    assert_eq!(s.apply(Intent::Back), Some(Effect::Trace(None)));
    assert_eq!(s.mode(), Mode::Flows);
}

#[test]
fn help_overlay_takes_any_key() {
    let mut s = started(100);
    s.apply(Intent::ToggleHelp);
    assert_eq!(s.mode(), Mode::Help);
    assert_eq!(s.apply(Intent::VerdictNext), None);
    assert_eq!(s.mode(), Mode::Flows);
    assert_eq!(s.filters.verdict, None);
    assert_eq!(s.apply(Intent::Quit), Some(Effect::Quit));
}

#[test]
fn format_durations_like_go() {
    assert_eq!(format_duration(0), "0ns");
    assert_eq!(format_duration(999), "999ns");
    assert_eq!(format_duration(350_000), "350µs");
    assert_eq!(format_duration(12_000_000), "12ms");
    assert_eq!(format_duration(1_500_000), "1.5ms");
    assert_eq!(format_duration(2_250_000_000), "2.25s");
}

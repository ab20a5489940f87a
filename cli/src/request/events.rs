//! Selector flags → `GetAgentEventsRequest`, as `hubble observe agent-events` builds it
//! (`getAgentEventsRequest` in `cmd/observe/agent_events.go`).

use chrono::{DateTime, Utc};
use flowscope_proto::observer::GetAgentEventsRequest;

use super::{SelectorFlags, time_flag};
use crate::flags::FlagError;

/// How many events a plain `observe agent-events` asks for (`defaults.EventsPrintCount`).
pub const DEFAULT_EVENTS_NUMBER: u64 = 20;

/// Builds the request of `observe agent-events`:
///
/// - without `--since` and `--until`: `--all` asks for `u64::MAX` events and no `--last`
///   for [`DEFAULT_EVENTS_NUMBER`], **also** with `--follow` (unlike flows);
/// - `--until` is ignored (not even parsed) with `--follow`;
/// - `--first N` asks for the oldest N events (Hubble accepts the flag but drops it); it
///   conflicts with `--last`, `--all` and `--follow`.
pub fn build_agent_events_request(
    sel: &SelectorFlags,
    now: DateTime<Utc>,
) -> Result<GetAgentEventsRequest, FlagError> {
    let first = sel.first.filter(|n| *n > 0);
    if first.is_some() {
        for (given, other) in [
            (sel.last.is_some_and(|n| n > 0), "last"),
            (sel.all, "all"),
            (sel.follow, "follow"),
        ] {
            if given {
                return Err(FlagError::SelectorConflict("first", other));
            }
        }
    }
    let since = match &sel.since {
        Some(s) => Some(time_flag("since", s, now)?),
        None => None,
    };
    let until = match &sel.until {
        Some(u) if !sel.follow => Some(time_flag("until", u, now)?),
        _ => None,
    };
    let mut number = sel.last.unwrap_or(0);
    if since.is_none() && until.is_none() {
        if sel.all {
            number = u64::MAX;
        } else if number == 0 {
            number = DEFAULT_EVENTS_NUMBER;
        }
    }
    if let Some(n) = first {
        number = n;
    }
    Ok(GetAgentEventsRequest {
        number,
        first: first.is_some(),
        follow: sel.follow,
        since,
        until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscope_proto::types::Timestamp;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2021-04-26T00:10:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn req(sel: SelectorFlags) -> GetAgentEventsRequest {
        build_agent_events_request(&sel, now()).expect("request")
    }

    #[test]
    fn defaults_as_hubble() {
        assert_eq!(
            req(SelectorFlags::default()),
            GetAgentEventsRequest {
                number: 20,
                ..Default::default()
            }
        );
        let follow = req(SelectorFlags {
            follow: true,
            ..Default::default()
        });
        assert_eq!((follow.number, follow.follow), (20, true));
        assert_eq!(
            req(SelectorFlags {
                all: true,
                ..Default::default()
            })
            .number,
            u64::MAX
        );
    }

    #[test]
    fn time_range_keeps_the_default_count_out() {
        let r = req(SelectorFlags {
            since: Some("2021-04-26T00:00:00Z".into()),
            until: Some("2021-04-26T00:01:00Z".into()),
            ..Default::default()
        });
        assert_eq!(r.number, 0);
        assert_eq!(
            r.since,
            Some(Timestamp {
                seconds: 1_619_395_200,
                nanos: 0
            })
        );
        assert_eq!(r.until.map(|t| t.seconds), Some(1_619_395_260));
        let followed = req(SelectorFlags {
            follow: true,
            until: Some("not a time".into()),
            ..Default::default()
        });
        assert_eq!(followed.until, None, "--until is ignored with --follow");
    }

    #[test]
    fn first_asks_for_the_oldest_and_conflicts() {
        let r = req(SelectorFlags {
            first: Some(3),
            ..Default::default()
        });
        assert_eq!((r.number, r.first), (3, true));
        let err = build_agent_events_request(
            &SelectorFlags {
                first: Some(3),
                follow: true,
                ..Default::default()
            },
            now(),
        )
        .expect_err("conflict");
        assert!(err.to_string().contains("first"), "{err}");
    }
}

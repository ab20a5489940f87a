//! DNS messages in wire format, as resolvers and servers send them (names compressed with
//! pointers, an EDNS0 OPT record in the additional section).

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

use crate::parser::l34::build::{answer_www_cname_a, hex, query_www_a};

#[test]
fn a_query_names_its_question_in_lower_case_with_the_root_dot() {
    let m = DnsMessage::parse(&query_www_a()).expect("query");
    assert_eq!(m.id, 0xab12);
    assert!(!m.response);
    assert_eq!(m.query, "www.example.com.");
    assert_eq!(m.qtypes, [1]);
    assert_eq!((m.rcode, m.ttl), (0, u32::MAX));
    assert!(m.ips.is_empty() && m.cnames.is_empty() && m.rrtypes.is_empty());
    let mut s = String::new();
    push_summary(
        &mut s,
        &SummaryParts {
            response: false,
            query: &m.query,
            qtypes: &m.qtypes,
            rcode: 0,
            ips: &[],
            cnames: &[],
            ttl: 0,
            proxy: false,
        },
    );
    assert_eq!(s, "DNS Query www.example.com. A");
}

#[test]
fn a_cname_chain_collapses_with_the_lowest_ttl() {
    let m = DnsMessage::parse(&answer_www_cname_a()).expect("answer");
    assert!(m.response);
    assert_eq!(m.query, "www.example.com.");
    assert_eq!(m.cnames, ["example.com."]);
    assert_eq!(m.ips, [ip("93.184.216.34"), ip("93.184.216.35")]);
    assert_eq!(m.ttl, 60);
    assert_eq!(m.rrtypes, [5, 1, 1]);
    let cnames: Vec<&str> = m.cnames.iter().map(String::as_str).collect();
    let mut s = String::new();
    push_summary(
        &mut s,
        &SummaryParts {
            response: true,
            query: &m.query,
            qtypes: &m.qtypes,
            rcode: u32::from(m.rcode),
            ips: &m.ips,
            cnames: &cnames,
            ttl: m.ttl,
            proxy: false,
        },
    );
    assert_eq!(
        s,
        r#"DNS Answer "93.184.216.34,93.184.216.35" CNAMEs: "example.com." TTL: 60 (Query www.example.com. A)"#
    );
    // Seen by Cilium's proxy the same answer says so.
    s.clear();
    push_summary(
        &mut s,
        &SummaryParts {
            response: true,
            query: &m.query,
            qtypes: &m.qtypes,
            rcode: 0,
            ips: &m.ips,
            cnames: &[],
            ttl: m.ttl,
            proxy: true,
        },
    );
    assert!(s.ends_with("TTL: 60 (Proxy www.example.com. A)"), "{s}");
}

#[test]
fn an_aaaa_answer() {
    let m = DnsMessage::parse(&hex(&[
        "0001 8180 0001 0001 0000 0000",
        "04 69707636 07 6578616d706c65 03 6f7267 00 001c 0001",
        "c00c 001c 0001 00000078 0010 20010db8000000000000000000000001",
    ]))
    .expect("aaaa");
    assert_eq!(m.query, "ipv6.example.org.");
    assert_eq!(m.qtypes, [28]);
    assert_eq!(m.ips, [ip("2001:db8::1")]);
    assert_eq!((m.ttl, m.rrtypes.as_slice()), (120, &[28u16][..]));
}

#[test]
fn nxdomain_has_no_answers_and_its_summary_names_the_rcode() {
    let m = DnsMessage::parse(&hex(&[
        "beef 8183 0001 0000 0001 0000",
        "07 6e6f7065787374 07 6578616d706c65 03 636f6d 00 0001 0001",
        // authority: example.com. SOA (compressed), as servers send with NXDOMAIN
        "c014 0006 0001 00000384 0018 c014 c014 00000001 00000e10 00000258 00093a80 00000384",
    ]))
    .expect("nxdomain");
    assert_eq!((m.rcode, m.ttl), (3, u32::MAX));
    assert!(m.ips.is_empty() && m.rrtypes.is_empty());
    let mut s = String::new();
    push_summary(
        &mut s,
        &SummaryParts {
            response: true,
            query: &m.query,
            qtypes: &m.qtypes,
            rcode: u32::from(m.rcode),
            ips: &[],
            cnames: &[],
            ttl: m.ttl,
            proxy: false,
        },
    );
    assert_eq!(
        s,
        "DNS Answer RCode: Non-Existent Domain TTL: 4294967295 (Query nopexst.example.com. A)"
    );
}

#[test]
fn tcp_messages_carry_a_length_prefix() {
    let msg = answer_www_cname_a();
    let mut seg = (msg.len() as u16).to_be_bytes().to_vec();
    seg.extend_from_slice(&msg);
    assert_eq!(
        DnsMessage::parse_tcp(&seg).expect("tcp"),
        DnsMessage::parse(&msg).expect("udp")
    );
    assert_eq!(
        DnsMessage::parse_tcp(&seg[..seg.len() - 1]),
        Err(DnsError::TruncatedTcp {
            need: msg.len(),
            have: msg.len() - 1
        })
    );
    assert!(matches!(
        DnsMessage::parse_tcp(&seg[..1]),
        Err(DnsError::TruncatedTcp { need: 2, have: 1 })
    ));
}

#[test]
fn malformed_messages_are_errors_never_panics() {
    let good = answer_www_cname_a();
    // Every truncation, and a compression pointer that loops onto itself.
    for n in 0..good.len() {
        let _ = DnsMessage::parse(&good[..n]);
        assert!(DnsMessage::parse(&good[..n]).is_err(), "truncated at {n}");
    }
    let mut looping = good.clone();
    looping[12] = 0xc0;
    looping[13] = 0x0c;
    assert!(DnsMessage::parse(&looping).is_err());
    // A message without a question.
    assert_eq!(
        DnsMessage::parse(&hex(&["0001 8180 0000 0000 0000 0000"])),
        Err(DnsError::NoQuestion)
    );
    // An answer for a name the chain does not lead to (Cilium rejects the message).
    let stray = hex(&[
        "0002 8180 0001 0001 0000 0000",
        "01 61 07 6578616d706c65 03 636f6d 00 0001 0001",
        "01 62 c00e 0001 0001 0000003c 0004 01020304",
    ]);
    assert!(matches!(
        DnsMessage::parse(&stray),
        Err(DnsError::UnexpectedName { .. })
    ));
}

#[test]
fn type_and_rcode_names_follow_gopacket() {
    assert_eq!(type_name(1), "A");
    assert_eq!(type_name(28), "AAAA");
    assert_eq!(type_name(65), "HTTPS");
    assert_eq!(type_name(99), "Unknown");
    assert_eq!(rcode_name(2), "Server Failure");
    assert_eq!(rcode_name(5), "Query Refused");
    assert_eq!(rcode_name(42), "Unknown");
}

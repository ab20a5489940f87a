//! DNS messages, read as Cilium's DNS proxy reads them for Hubble.
//!
//! [`DnsMessage::parse`] takes a DNS message (a UDP payload, or a TCP segment with its
//! two-byte length prefix through [`DnsMessage::parse_tcp`]) and extracts what Cilium's
//! `dnsproxy.ExtractMsgDetails` does: the first question's name in lower case as a fully
//! qualified name, every question type, the response code (extended by an OPT record), and
//! along the answer chain the addresses of A/AAAA records, the CNAME targets, the lowest TTL
//! and every answer's type. An answer for a name the chain does not lead to is an error, as
//! in Cilium. The wire format is read by the `simple-dns` crate; names of types and response
//! codes, and the summary line, follow Hubble (gopacket's `DNSType` and `DNSResponseCode`,
//! `parser/seven/dns.go`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;
use simple_dns::{Name, Packet, PacketFlag};

/// Why bytes are not a DNS message flowd reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("malformed DNS message: {0}")]
    Malformed(String),
    #[error("DNS message without a question")]
    NoQuestion,
    #[error("DNS answer for {found} where the chain for {query} leads to {expected}")]
    UnexpectedName {
        query: String,
        expected: String,
        found: String,
    },
    #[error("TCP DNS segment of {have} bytes for a {need}-byte message")]
    TruncatedTcp { need: usize, have: usize },
}

/// What Hubble reports of one DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    pub id: u16,
    pub response: bool,
    /// The first question's name, lower case, with the trailing dot.
    pub query: String,
    pub qtypes: Vec<u16>,
    pub rcode: u16,
    /// A and AAAA answers along the chain, in order.
    pub ips: Vec<IpAddr>,
    /// The lowest TTL along the chain (`u32::MAX` without answers, as in Cilium).
    pub ttl: u32,
    /// CNAME targets, as sent, with the trailing dot.
    pub cnames: Vec<String>,
    /// Every answer's type, in order.
    pub rrtypes: Vec<u16>,
}

/// `name` as a fully qualified name: its labels joined by dots, with the trailing dot.
fn fqdn(name: &Name<'_>) -> String {
    let mut s = name.to_string();
    s.push('.');
    s
}

impl DnsMessage {
    /// A DNS message over TCP: a two-byte length, then the message.
    pub fn parse_tcp(segment: &[u8]) -> Result<Self, DnsError> {
        let (len, rest) = match segment {
            [a, b, rest @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), rest),
            _ => {
                return Err(DnsError::TruncatedTcp {
                    need: 2,
                    have: segment.len(),
                });
            }
        };
        let msg = rest.get(..len).ok_or(DnsError::TruncatedTcp {
            need: len,
            have: rest.len(),
        })?;
        Self::parse(msg)
    }

    /// A DNS message (a UDP payload).
    pub fn parse(msg: &[u8]) -> Result<Self, DnsError> {
        let packet = Packet::parse(msg).map_err(|e| DnsError::Malformed(e.to_string()))?;
        let first = packet.questions.first().ok_or(DnsError::NoQuestion)?;
        let query = fqdn(&first.qname).to_lowercase();
        let mut out = DnsMessage {
            id: packet.id(),
            response: packet.has_flags(PacketFlag::RESPONSE),
            qtypes: packet
                .questions
                .iter()
                .map(|q| u16::from(q.qtype))
                .collect(),
            rcode: packet.rcode() as u16,
            ips: Vec::new(),
            ttl: u32::MAX,
            cnames: Vec::new(),
            rrtypes: Vec::with_capacity(packet.answers.len()),
            query,
        };
        // The name the next answer must be for; a CNAME moves it along the chain.
        let mut expected = out.query.clone();
        for rr in &packet.answers {
            let name = fqdn(&rr.name).to_lowercase();
            if name != expected {
                return Err(DnsError::UnexpectedName {
                    query: out.query,
                    expected,
                    found: name,
                });
            }
            match &rr.rdata {
                RData::A(a) => {
                    out.ips.push(IpAddr::V4(Ipv4Addr::from(a.address)));
                    out.ttl = out.ttl.min(rr.ttl);
                }
                RData::AAAA(a) => {
                    out.ips.push(IpAddr::V6(Ipv6Addr::from(a.address)));
                    out.ttl = out.ttl.min(rr.ttl);
                }
                RData::CNAME(c) => {
                    out.ttl = out.ttl.min(rr.ttl);
                    let target = fqdn(&c.0);
                    expected = target.to_lowercase();
                    out.cnames.push(target);
                }
                _ => {}
            }
            out.rrtypes.push(u16::from(rr.rdata.type_code()));
        }
        Ok(out)
    }
}

/// gopacket's name of a DNS type (`A`, `AAAA`, ..., `Unknown`).
pub fn type_name(t: u16) -> &'static str {
    match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        46 => "RRSIG",
        48 => "DNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        256 => "URI",
        _ => "Unknown",
    }
}

/// gopacket's name of a DNS response code (`No Error`, `Non-Existent Domain`, ...).
pub fn rcode_name(rcode: u32) -> &'static str {
    match rcode {
        0 => "No Error",
        1 => "Format Error",
        2 => "Server Failure",
        3 => "Non-Existent Domain",
        4 => "Not Implemented",
        5 => "Query Refused",
        6 => "Name Exists when it should not",
        7 => "RR Set Exists when it should not",
        8 => "RR Set that should exist does not",
        9 => "Server Not Authoritative for zone",
        10 => "Name not contained in zone",
        16 => "Bad OPT Version",
        17 => "Key not recognized",
        18 => "Signature out of time window",
        19 => "Bad TKEY Mode",
        20 => "Duplicate key name",
        21 => "Algorithm not supported",
        22 => "Bad Truncation",
        23 => "Bad Cookie",
        _ => "Unknown",
    }
}

/// What a DNS flow's summary is made of (the record's fields, or a decoded message).
pub struct SummaryParts<'a> {
    pub response: bool,
    pub query: &'a str,
    pub qtypes: &'a [u16],
    pub rcode: u32,
    pub ips: &'a [IpAddr],
    pub cnames: &'a [&'a str],
    pub ttl: u32,
    /// Whether Cilium's DNS proxy observed it (`Proxy`; otherwise `Query`).
    pub proxy: bool,
}

/// Hubble's summary of a DNS flow (`DNS Query …` / `DNS Answer … TTL: …`), appended to `out`.
pub fn push_summary(out: &mut String, p: &SummaryParts<'_>) {
    use std::fmt::Write as _;
    let join = |items: &mut dyn Iterator<Item = String>| items.collect::<Vec<_>>().join(",");
    let qtypes = join(&mut p.qtypes.iter().map(|t| type_name(*t).to_string()));
    if !p.response {
        let _ = write!(out, "DNS Query {} {qtypes}", p.query);
        return;
    }
    let answer = if p.rcode != 0 {
        format!("RCode: {}", rcode_name(p.rcode))
    } else {
        let mut parts = Vec::new();
        if !p.ips.is_empty() {
            let ips = join(&mut p.ips.iter().map(|ip| ip.to_string()));
            parts.push(go_quote(&ips));
        }
        if !p.cnames.is_empty() {
            parts.push(format!("CNAMEs: {}", go_quote(&p.cnames.join(","))));
        }
        parts.join(" ")
    };
    let source = if p.proxy { "Proxy" } else { "Query" };
    let _ = write!(
        out,
        "DNS Answer {answer} TTL: {} ({source} {} {qtypes})",
        p.ttl, p.query
    );
}

/// Go's `%q` of a string of printable ASCII: quoted, with `"` and `\` escaped.
fn go_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            c if c.is_ascii_graphic() || c == ' ' => q.push(c),
            c => q.push_str(&c.escape_default().to_string()),
        }
    }
    q.push('"');
    q
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;

//! Names of addresses, learnt from the DNS answers flowd sees (Hubble's FQDN cache).
//!
//! Cilium's agent learns from its DNS proxy which names resolved to which addresses and
//! Hubble shows them as `source_names` / `destination_names` (so `--fqdn` finds a pod's
//! connections to a name). flowd learns the same from the DNS answers its datapath copies:
//! every address of an answer gets the query name and the CNAMEs of its chain, for the
//! answer's TTL (at least [`MIN_TTL_SECS`], as Cilium keeps names at least
//! `tofqdns-min-ttl`). Names are lower case, without the trailing dot. The cache is bounded:
//! when it is full, expired entries go first and new addresses are not learnt until there
//! is room.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// Names are kept at least this long after the answer.
pub const MIN_TTL_SECS: i64 = 60;
/// Addresses kept at most.
pub const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug)]
struct Entry {
    names: Arc<[String]>,
    /// Unix seconds after which the names no longer apply.
    expires: i64,
}

/// Address → names, shared by the datapath decoders.
#[derive(Debug, Default)]
pub struct FqdnCache {
    map: RwLock<HashMap<IpAddr, Entry>>,
    /// Entries in `map`, readable without the lock (most flows' lookups stop here).
    len: AtomicUsize,
}

impl FqdnCache {
    /// An answer at `now` (Unix seconds) gave `ips` for `names` (the query and its CNAMEs,
    /// as sent: fully qualified, any case) with `ttl`.
    pub fn learn(&self, ips: &[IpAddr], names: &[&str], ttl: u32, now: i64) {
        if ips.is_empty() || names.is_empty() {
            return;
        }
        let expires = now + i64::from(ttl).max(MIN_TTL_SECS);
        let fresh: Vec<String> = names
            .iter()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        let mut map = match self.map.write() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        if map.len() + ips.len() > MAX_ADDRESSES {
            map.retain(|_, e| e.expires > now);
        }
        for ip in ips {
            let mut all: Vec<String> = match map.get(ip) {
                Some(e) if e.expires > now => e.names.to_vec(),
                _ => Vec::new(),
            };
            all.extend(fresh.iter().cloned());
            all.sort();
            all.dedup();
            if map.len() >= MAX_ADDRESSES && !map.contains_key(ip) {
                continue;
            }
            let expires = map.get(ip).map_or(expires, |e| e.expires.max(expires));
            map.insert(
                *ip,
                Entry {
                    names: all.into(),
                    expires,
                },
            );
        }
        self.len.store(map.len(), Ordering::Relaxed);
    }

    /// The names of `ip` at `now`, if an unexpired answer gave it any.
    pub fn names(&self, ip: IpAddr, now: i64) -> Option<Arc<[String]>> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let map = match self.map.read() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        map.get(&ip)
            .filter(|e| e.expires > now)
            .map(|e| e.names.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn an_answer_names_its_addresses_until_it_expires() {
        let c = FqdnCache::default();
        assert_eq!(c.names(ip("10.0.0.1"), 0), None);
        c.learn(
            &[ip("10.0.0.1"), ip("2001:db8::1")],
            &["WWW.Example.com.", "example.com."],
            300,
            1_000,
        );
        let names = c.names(ip("10.0.0.1"), 1_000).expect("learnt");
        assert_eq!(&*names, ["example.com", "www.example.com"]);
        assert!(c.names(ip("2001:db8::1"), 1_299).is_some());
        assert_eq!(c.names(ip("10.0.0.1"), 1_300), None, "expired");
        assert_eq!(c.names(ip("10.0.0.2"), 1_000), None);
    }

    #[test]
    fn names_accumulate_and_short_ttls_are_raised() {
        let c = FqdnCache::default();
        c.learn(&[ip("10.0.0.1")], &["a.example."], 0, 0);
        c.learn(&[ip("10.0.0.1")], &["b.example."], 0, 10);
        let names = c
            .names(ip("10.0.0.1"), 59)
            .expect("kept for the minimum TTL");
        assert_eq!(&*names, ["a.example", "b.example"]);
        // An entry that expired does not carry its old names over.
        c.learn(&[ip("10.0.0.1")], &["c.example."], 0, 1_000);
        assert_eq!(
            &*c.names(ip("10.0.0.1"), 1_000).expect("learnt"),
            ["c.example"]
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = FqdnCache::default();
        let many: Vec<IpAddr> = (0..MAX_ADDRESSES as u32 + 10)
            .map(|i| IpAddr::from(i.to_be_bytes()))
            .collect();
        c.learn(&many, &["x.example."], 30, 0);
        assert!(c.len.load(Ordering::Relaxed) <= MAX_ADDRESSES);
        // Once they expire, new addresses are learnt again.
        c.learn(&[ip("192.0.2.1")], &["y.example."], 30, 1_000);
        assert!(c.names(ip("192.0.2.1"), 1_000).is_some());
    }
}

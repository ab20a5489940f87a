//! Cilium's reserved security identities (pkg/identity): numbers, names and labels.

/// `(numeric identity, name)`; the label of each is `reserved:<name>`.
pub const RESERVED_IDENTITIES: &[(u32, &str)] = &[
    (0, "unknown"),
    (1, "host"),
    (2, "world"),
    (3, "unmanaged"),
    (4, "health"),
    (5, "init"),
    (6, "remote-node"),
    (7, "kube-apiserver"),
    (8, "ingress"),
    (9, "world-ipv4"),
    (10, "world-ipv6"),
    (11, "overlay-to-encrypt"),
];

pub const UNKNOWN: u32 = 0;
pub const HOST: u32 = 1;
pub const WORLD: u32 = 2;
pub const INGRESS: u32 = 8;

/// The first identity a cluster allocates for a label set (`MinimalNumericIdentity`).
pub const MIN_ALLOCATED: u32 = 256;

/// The name of a reserved identity, if `id` is one.
pub fn name(id: u32) -> Option<&'static str> {
    RESERVED_IDENTITIES
        .iter()
        .find(|(n, _)| *n == id)
        .map(|(_, name)| *name)
}

/// The number of a reserved identity given by name (`ingress` → 8).
pub fn by_name(name: &str) -> Option<u32> {
    RESERVED_IDENTITIES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(id, _)| *id)
}

/// The name Hubble's CLI prints for an identity: reserved 0..=10 by name; 11 and
/// everything else is not in the display map and prints as `ID:n`.
pub fn display_name(id: u32) -> Option<&'static str> {
    if id <= 10 { name(id) } else { None }
}

/// The labels Cilium attaches to a reserved identity.
pub fn labels(id: u32) -> Vec<String> {
    match id {
        7 => vec![
            "reserved:kube-apiserver".to_string(),
            "reserved:remote-node".to_string(),
        ],
        _ => name(id)
            .map(|n| vec![format!("reserved:{n}")])
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(by_name("ingress"), Some(8));
        assert_eq!(by_name("kube-apiserver"), Some(7));
        assert_eq!(name(2), Some("world"));
        assert_eq!(by_name("nope"), None);
        assert_eq!(display_name(11), None);
        assert_eq!(display_name(10), Some("world-ipv6"));
        assert_eq!(labels(2), vec!["reserved:world"]);
        assert_eq!(labels(300), Vec::<String>::new());
    }
}

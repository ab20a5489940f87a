//! The network interface a datapath event was seen on: `flow.NetworkInterface`.
//!
//! Monitor records carry only the interface index; Hubble adds the name from the agent's
//! link cache. [`InterfaceNames`] is flowd's: each decoder keeps one, resolves an index the
//! first time it appears (and again once its entry is a while old, as links come and go),
//! and flows share the resulting [`NetInterface`].

use std::collections::HashMap;
use std::sync::Arc;

/// An interface index and its name (empty when the index is not a link of this node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInterface {
    pub index: u32,
    pub name: Box<str>,
}

/// How indexes become names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolve {
    /// Names are not looked up (decoding records of another machine, tests).
    Never,
    /// Names come from this node's kernel.
    System,
}

/// A decoder's cache of interface names.
#[derive(Debug)]
pub struct InterfaceNames {
    resolve: Resolve,
    /// Index → (the interface, the flow time in seconds at which it was resolved).
    cache: HashMap<u32, (Arc<NetInterface>, i64)>,
}

/// Seconds after which a cached name is looked up again.
const REFRESH_SECS: i64 = 30;
/// Entries kept at most: records with hostile indexes cannot grow the cache without bound.
const MAX_ENTRIES: usize = 4096;

impl Default for InterfaceNames {
    fn default() -> Self {
        Self::without_names()
    }
}

impl InterfaceNames {
    /// Indexes only, no names.
    pub fn without_names() -> Self {
        InterfaceNames {
            resolve: Resolve::Never,
            cache: HashMap::new(),
        }
    }

    /// Names of this node's links.
    pub fn system() -> Self {
        InterfaceNames {
            resolve: Resolve::System,
            cache: HashMap::new(),
        }
    }

    /// The interface of `index` (none for 0) as of `now_secs`, the flow's time.
    pub fn get(&mut self, index: u32, now_secs: i64) -> Option<Arc<NetInterface>> {
        if index == 0 {
            return None;
        }
        if let Some((iface, at)) = self.cache.get(&index)
            && (self.resolve == Resolve::Never || now_secs.abs_diff(*at) < REFRESH_SECS as u64)
        {
            return Some(iface.clone());
        }
        let name = match self.resolve {
            Resolve::Never => String::new(),
            Resolve::System => name_of(index).unwrap_or_default(),
        };
        if let Some((iface, at)) = self.cache.get_mut(&index)
            && *iface.name == *name
        {
            *at = now_secs;
            return Some(iface.clone());
        }
        if self.cache.len() >= MAX_ENTRIES {
            self.cache.clear();
        }
        let iface = Arc::new(NetInterface {
            index,
            name: name.into(),
        });
        self.cache.insert(index, (iface.clone(), now_secs));
        Some(iface)
    }
}

/// The kernel's name of link `index`, if there is one.
fn name_of(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` holds IF_NAMESIZE bytes, as if_indextoname requires; on success it
    // writes a NUL-terminated name into it.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success `buf` holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_zero_is_no_interface() {
        assert_eq!(InterfaceNames::system().get(0, 0), None);
    }

    #[test]
    fn without_names_keeps_the_index_and_shares_one_value() {
        let mut n = InterfaceNames::without_names();
        let a = n.get(17, 0).expect("some");
        assert_eq!((a.index, &*a.name), (17, ""));
        let b = n.get(17, 1_000).expect("some");
        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn system_names_come_from_the_kernel_and_unknown_indexes_stay_unnamed() {
        let mut n = InterfaceNames::system();
        // The loopback link is index 1 in every network namespace.
        let lo = n.get(1, 0).expect("some");
        assert_eq!(&*lo.name, "lo");
        let none = n.get(u32::MAX - 1, 0).expect("some");
        assert_eq!(&*none.name, "");
        // Cached until it is old, then looked up again (and still shared while unchanged).
        let again = n.get(1, REFRESH_SECS + 5).expect("some");
        assert!(Arc::ptr_eq(&lo, &again));
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut n = InterfaceNames::without_names();
        for i in 1..=(MAX_ENTRIES as u32 * 2) {
            n.get(i, 0);
        }
        assert!(n.cache.len() <= MAX_ENTRIES);
    }
}

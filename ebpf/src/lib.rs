#![doc = include_str!("../README.md")]

pub mod layout;

/// The compiled tc programs (`from_endpoint`, `to_endpoint`) and their maps, as an ELF object
/// with BTF, aligned for aya's loader.
pub static PROGRAM: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/flowscope.bpf.o"));

/// Program names inside [`PROGRAM`].
pub const FROM_ENDPOINT: &str = "from_endpoint";
pub const TO_ENDPOINT: &str = "to_endpoint";

/// Map names inside [`PROGRAM`].
pub mod maps {
    pub const IPCACHE4: &str = "ipcache4";
    pub const IPCACHE6: &str = "ipcache6";
    pub const POLICY: &str = "policy";
    pub const ENFORCE: &str = "enforce";
    pub const CONFIG: &str = "config_map";
    pub const STATS: &str = "stats";
    pub const DROPS: &str = "drops";
    pub const EVENTS: &str = "events";
    pub const RINGBUF: &str = "ringbuf";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
    }

    /// The verifier accepts both programs (root only; skipped otherwise).
    #[test]
    fn programs_pass_the_verifier() {
        if !is_root() {
            eprintln!("skipped: loading eBPF programs needs root");
            return;
        }
        let mut ebpf = aya::Ebpf::load(PROGRAM).expect("load object");
        for name in [FROM_ENDPOINT, TO_ENDPOINT] {
            let prog: &mut aya::programs::SchedClassifier = ebpf
                .program_mut(name)
                .expect("program present")
                .try_into()
                .expect("classifier");
            prog.load()
                .unwrap_or_else(|e| panic!("verifier rejected {name}: {e:?}"));
        }
        for m in [
            maps::IPCACHE4,
            maps::IPCACHE6,
            maps::POLICY,
            maps::ENFORCE,
            maps::CONFIG,
            maps::STATS,
            maps::DROPS,
            maps::EVENTS,
        ] {
            assert!(ebpf.map(m).is_some(), "map {m}");
        }
    }
}

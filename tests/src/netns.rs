//! Network namespaces the tests create themselves, removed on drop (even on failure).
//! Deleting a namespace deletes the veth ends inside it, and with them their peers.

use std::process::{Child, Command, Output};

/// True when the tests run as root (namespaces and eBPF need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One namespace; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        ip(&["netns", "add", name]);
        ip(&["-n", name, "link", "set", "lo", "up"]);
        Netns {
            name: name.to_string(),
        }
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .expect("ip netns exec")
    }

    /// A command that runs inside the namespace, for the caller to spawn.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Connects `a` (interface `a_if`, address `a_addr`) and `b` with a veth pair.
pub fn veth(
    a: &Netns,
    a_if: &str,
    a_addr: Option<&str>,
    b: &Netns,
    b_if: &str,
    b_addr: Option<&str>,
) {
    // Create with temporary names in `a`, then move and rename, so names never clash with
    // interfaces of the root namespace.
    let tmp_a = format!("t{}a", std::process::id() % 100_000);
    let tmp_b = format!("t{}b", std::process::id() % 100_000);
    ip(&[
        "-n", &a.name, "link", "add", &tmp_a, "type", "veth", "peer", "name", &tmp_b, "netns",
        &b.name,
    ]);
    ip(&["-n", &a.name, "link", "set", &tmp_a, "name", a_if]);
    ip(&["-n", &b.name, "link", "set", &tmp_b, "name", b_if]);
    for (ns, ifname, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
        if let Some(addr) = addr {
            ip(&["-n", &ns.name, "addr", "add", addr, "dev", ifname]);
        }
        ip(&["-n", &ns.name, "link", "set", ifname, "up"]);
    }
}

/// Adds a route inside `ns`.
pub fn route(ns: &Netns, args: &[&str]) {
    let mut all = vec!["-n", ns.name.as_str(), "route", "add"];
    all.extend_from_slice(args);
    ip(&all);
}

/// Processes a test started in its namespaces; killed by pid (and reaped) on drop.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

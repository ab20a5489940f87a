//! A real DNS server (dnsmasq) in a test namespace, and a pod namespace's resolver pointing
//! at it; the server is killed by its pid and the resolver file removed on drop.

use std::path::PathBuf;
use std::process::{Child, Stdio};

use crate::netns::Netns;

pub struct DnsServer {
    child: Child,
    resolv_dir: PathBuf,
}

impl DnsServer {
    /// dnsmasq in `server`, listening on `ip`, answering for `lab.example` only, with
    /// `records` (dnsmasq options such as `--host-record=…`, `--cname=…`); `client`'s
    /// resolver (`/etc/netns/<client>/resolv.conf`, which `ip netns exec` puts in place of
    /// /etc/resolv.conf) asks it. Panics with the package to install when dnsmasq is missing.
    pub fn start(server: &Netns, ip: &str, client: &Netns, records: &[&str]) -> DnsServer {
        let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "dnsmasq is needed (Debian package dnsmasq-base; scripts/test.sh installs it)"
                )
            });
        let resolv_dir = PathBuf::from(format!("/etc/netns/{}", client.name));
        std::fs::create_dir_all(&resolv_dir).expect("create /etc/netns/<ns>");
        std::fs::write(
            resolv_dir.join("resolv.conf"),
            format!("nameserver {ip}\noptions attempts:2 timeout:2\n"),
        )
        .expect("write resolv.conf");
        let child = server
            .command(binary)
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--user=root",
                "--pid-file=",
                "--port=53",
                &format!("--listen-address={ip}"),
                "--local=/lab.example/",
            ])
            .args(records)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        DnsServer { child, resolv_dir }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.resolv_dir);
        // /etc/netns itself, unless another namespace's configuration is in it.
        if let Some(parent) = self.resolv_dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

//! flowrelay over flowd nodes on loopback, for the tests that need a cluster of nodes.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flowscope_proto::cilium::EntryType;
use flowscope_server::parser::l7::build::http_entry;

use crate::{Flowd, FlowdOptions, bin, free_port, terminate};

/// A flowd named `name` with its Observer API (and Peer service) on `127.0.0.1:port`;
/// `extra` are further flags (e.g. `--peer=node-b=127.0.0.1:PORT`).
pub fn loopback_node(name: &str, port: u16, extra: &[String]) -> Flowd {
    let state = format!("node_name: {name}\nendpoints: []\n");
    let mut extra_args = vec![format!("--listen-address=127.0.0.1:{port}")];
    extra_args.extend(extra.iter().cloned());
    Flowd::start(FlowdOptions {
        state_yaml: Box::leak(state.into_boxed_str()),
        extra_args,
        ..Default::default()
    })
}

/// A running flowrelay on a free loopback port; ended by its pid on drop.
pub struct RelayProcess {
    child: Child,
    /// `127.0.0.1:PORT`, for `--server`.
    pub address: String,
}

impl RelayProcess {
    /// Starts flowrelay discovering its nodes from `peer_service` (`HOST:PORT`).
    pub fn start(peer_service: &str) -> RelayProcess {
        RelayProcess::start_with(peer_service, &[])
    }

    /// As [`RelayProcess::start`], with further flags `extra`.
    pub fn start_with(peer_service: &str, extra: &[String]) -> RelayProcess {
        let mut args = vec!["--peer-service".to_string(), peer_service.to_string()];
        args.extend(extra.iter().cloned());
        RelayProcess::start_args(&args)
    }

    /// flowrelay with only `args` (and its listen address).
    pub fn start_args(args: &[String]) -> RelayProcess {
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(bin("flowrelay"))
            .args(["--listen-address", &address])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        RelayProcess { child, address }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// `count` HTTP requests into `flowd` through its access-log socket, at `base + step·i`
/// seconds after 2023-11-14T22:13:20Z, paths `/{base}/{i}`; returns once flowd decoded them.
pub fn feed_requests(flowd: &Flowd, base: u64, count: u64, step: u64) {
    let series = r#"flowscope_source_records_decoded_total{source="access_log"}"#;
    let before = flowd.metric(series).unwrap_or(0.0);
    let p = flowd.producer();
    for i in 0..count {
        let t = (1_700_000_000 + base + step * i) * 1_000_000_000;
        let e = http_entry(
            EntryType::Request,
            t,
            "10.0.0.1:1000",
            2,
            "10.0.0.2:80",
            2,
            "GET",
            "h",
            &format!("/{base}/{i}"),
            0,
            &[],
        );
        p.send(&prost::Message::encode_to_vec(&e)).unwrap();
    }
    flowd.wait_metric(series, before + count as f64);
}

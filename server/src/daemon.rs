//! flowd's assembly: configuration, start-up order, signals and shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};

use crate::agent::Announcer;
use crate::agent::diff::Snapshot;
use crate::api;
use crate::identity::{ClusterState, StateHandle};
use crate::observer::{Observer, ObserverConfig};
use crate::parser::l7::RedactOptions;
use crate::policy::{CompiledPolicy, PolicySet};
use crate::source::accesslog::AccessLogListener;
use crate::source::datapath::{Aggregation, Datapath, DatapathConfig, DatapathError, Transport};
use crate::stats::Stats;

/// Everything flowd needs to start.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub listen_address: Option<SocketAddr>,
    /// TLS (mutual with client CAs) on `listen_address`; none: plaintext.
    pub tls: Option<crate::tls::TlsFiles>,
    /// The cluster's name, part of the TLS server names the Peer service announces.
    pub cluster_name: String,
    pub unix_socket: Option<PathBuf>,
    pub access_log_socket: PathBuf,
    pub access_log_max_record: usize,
    /// Producer connections served at once; further ones are closed and counted.
    pub max_access_log_connections: usize,
    pub state_file: Option<PathBuf>,
    pub node_name: Option<String>,
    pub buffer_capacity: u64,
    pub event_queue_size: usize,
    pub metrics_address: Option<SocketAddr>,
    /// Hubble metric handlers (`--metrics`).
    pub metrics: crate::metrics::MetricsSpec,
    /// Label sets per metric before new ones fold into its overflow series; 0: unlimited.
    pub metrics_series_limit: usize,
    pub redact: RedactOptions,
    /// Interfaces to attach the eBPF datapath to; none: no datapath.
    pub interfaces: Vec<String>,
    /// Detach flowd programs another instance attached to the interfaces, instead of refusing.
    pub replace_datapath: bool,
    /// CiliumNetworkPolicy YAML for the datapath's policy map.
    pub policy_file: Option<PathBuf>,
    pub aggregation: Aggregation,
    pub perf_pages: usize,
    pub cap_len: u32,
    /// DNS packets copied in full up to this many bytes for DNS flows (0: none).
    pub dns_cap_len: u32,
    pub transport: Transport,
    pub wakeup_bytes: u32,
    /// The other nodes the Peer service announces.
    pub peers: crate::peers::PeerConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    State(#[from] crate::identity::StateError),
    #[error(transparent)]
    Ring(#[from] crate::store::RingError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("cannot listen on {what} {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error("policy: {0}")]
    PolicyCompile(String),
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    #[error("loading state and policy: {0}")]
    Loader(String),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    SocketPath(#[from] crate::sockets::SocketPathError),
}

/// Raises the soft limit on open descriptors to the hard limit: every producer connection
/// and gRPC stream holds one, and the common soft default (1,024) ran out under load.
/// Returns the new soft limit.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads one valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

fn load_state(cfg: &Config) -> Result<ClusterState, crate::identity::StateError> {
    let node = cfg.node_name.clone().unwrap_or_else(hostname);
    let mut state = match &cfg.state_file {
        Some(path) => ClusterState::load(path)?,
        None => ClusterState::empty(&node),
    };
    if cfg.node_name.is_some() || state.node_name().is_empty() {
        state.set_node_name(&node);
    }
    Ok(state)
}

/// A load: the cluster state with the policy's CIDR identities, the compiled policy, and
/// what agent events compare between loads.
type Loaded = (ClusterState, CompiledPolicy, Snapshot);

/// The cluster state with the policy's CIDR identities, and the compiled policy.
fn load_state_and_policy(cfg: &Config) -> Result<Loaded, DaemonError> {
    let mut state = load_state(cfg)?;
    let policy = match &cfg.policy_file {
        Some(path) => PolicySet::load(path)?,
        None => PolicySet::default(),
    };
    let compiled = policy.compile(&state).map_err(DaemonError::PolicyCompile)?;
    for (net, id) in &compiled.cidrs {
        state.add_identity_labels(
            *id,
            vec![format!("cidr:{net}"), "reserved:world".to_string()],
        );
    }
    let snapshot = Snapshot::new(&state, &compiled.cidrs, policy.index());
    Ok((state, compiled, snapshot))
}

/// Gives the state the policy's rules, as flows name them, in the policy `revision` that the
/// agent events of this load announce.
fn stamp_policy_rules(state: &mut ClusterState, policy: &CompiledPolicy, revision: u64) {
    state.set_policy_rules(
        policy
            .rules
            .iter()
            .map(|r| Arc::new(r.with_revision(revision)))
            .collect(),
    );
}

/// [`load_state_and_policy`] on a blocking thread: a large or hostile file takes seconds to
/// parse, and parsing on the runtime would stall the API and every source meanwhile.
async fn load_off_runtime(cfg: &Config) -> Result<Loaded, DaemonError> {
    let cfg = cfg.clone();
    tokio::task::spawn_blocking(move || load_state_and_policy(&cfg))
        .await
        .map_err(|e| DaemonError::Loader(e.to_string()))?
}

/// Loads the files again and, when both are good, fills the datapath maps, swaps the new
/// state in whole and announces what changed; on any error the previous state and maps stay
/// in force. The loading and the map updates run off the runtime.
async fn reload(
    cfg: &Config,
    state: &Arc<StateHandle>,
    datapath: &Arc<std::sync::Mutex<Option<Datapath>>>,
    announcer: &mut Announcer,
) -> Result<(), DaemonError> {
    let (s, policy, snapshot) = load_off_runtime(cfg).await?;
    let dp = datapath.clone();
    let (mut s, policy) = tokio::task::spawn_blocking(move || {
        let mut guard = match dp.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(dp) = guard.as_mut() {
            dp.sync(&s, &policy)?;
        }
        Ok::<_, DaemonError>((s, policy))
    })
    .await
    .map_err(|e| DaemonError::Loader(e.to_string()))??;
    tracing::info!(
        endpoints = s.endpoints().len(),
        policy_entries = policy.entries.len(),
        "cluster state and policy reloaded"
    );
    stamp_policy_rules(&mut s, &policy, announcer.revision_after(&snapshot));
    state.replace(s);
    announcer.loaded(snapshot);
    Ok(())
}

/// Mirrors the datapath's per-CPU counters into the registry.
fn poll_datapath_counters(
    dp: &std::sync::Mutex<Option<Datapath>>,
    stats: &Stats,
    last: &mut PolledCounters,
) {
    let guard = match dp.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let Some(dp) = guard.as_ref() else { return };
    let Ok(c) = dp.counters() else { return };
    let drops = dp.drops_by_reason().unwrap_or_default();
    drop(guard);
    use crate::stats::{ReasonLabels, ResultLabels, VerdictLabels};
    let delta = |now: u64, before: &mut u64| {
        let d = now.saturating_sub(*before);
        *before = now;
        d
    };
    let packets = &stats.datapath.packets;
    let events = &stats.datapath.events;
    packets
        .get_or_create(&VerdictLabels {
            verdict: "forwarded",
        })
        .inc_by(delta(c.forwarded, &mut last.forwarded));
    packets
        .get_or_create(&VerdictLabels { verdict: "dropped" })
        .inc_by(delta(c.dropped, &mut last.dropped));
    events
        .get_or_create(&ResultLabels { result: "emitted" })
        .inc_by(delta(c.events_emitted, &mut last.emitted));
    events
        .get_or_create(&ResultLabels { result: "failed" })
        .inc_by(delta(c.events_failed, &mut last.failed));
    for (reason, n) in drops {
        let d = delta(n, last.drops.entry(reason).or_insert(0));
        stats
            .datapath
            .drops
            .get_or_create(&ReasonLabels { reason })
            .inc_by(d);
    }
}

#[derive(Default)]
struct PolledCounters {
    forwarded: u64,
    dropped: u64,
    emitted: u64,
    failed: u64,
    drops: std::collections::HashMap<u8, u64>,
}

async fn bind_tcp(addr: SocketAddr, what: &'static str) -> Result<TcpListener, DaemonError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Listen {
            what,
            addr: addr.to_string(),
            source,
        })
}

/// Binds the Observer API's unix socket: a live socket at the path is refused, a stale one
/// replaced, a regular file refused; mode 0660 and a 0750 directory whatever the umask.
fn bind_unix(
    path: &std::path::Path,
) -> Result<(UnixListener, crate::sockets::OwnedPath), DaemonError> {
    crate::sockets::prepare(path)?;
    let listener = UnixListener::bind(path).map_err(|source| DaemonError::Listen {
        what: "unix socket",
        addr: path.display().to_string(),
        source,
    })?;
    let owned = crate::sockets::OwnedPath::claim(path)?;
    Ok((listener, owned))
}

/// How long shutdown waits for the Observer API's connections to close.
const SERVER_DRAIN: std::time::Duration = std::time::Duration::from_millis(1000);

/// Runs flowd until `shutdown` resolves.
pub async fn run(
    cfg: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    match raise_fd_limit() {
        Ok(n) => tracing::debug!(limit = n, "open-file limit"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
    let (mut initial_state, initial_policy, initial_snapshot) = load_off_runtime(&cfg).await?;
    let revision = Announcer::first_revision(&initial_snapshot);
    stamp_policy_rules(&mut initial_state, &initial_policy, revision);
    // The TCP listeners are bound and both socket paths checked before any path is touched:
    // a second flowd fails on the first port or live socket without disturbing the first.
    let tls = match &cfg.tls {
        Some(files) => Some(Arc::new(crate::tls::ReloadingConfig::load(files.clone())?)),
        None => None,
    };
    let grpc_tcp = match cfg.listen_address {
        Some(addr) => Some((addr, bind_tcp(addr, "gRPC address").await?)),
        None => None,
    };
    let metrics_tcp = match cfg.metrics_address {
        Some(addr) => Some((addr, bind_tcp(addr, "metrics address").await?)),
        None => None,
    };
    for path in std::iter::once(&cfg.access_log_socket).chain(&cfg.unix_socket) {
        crate::sockets::check(path)?;
    }
    let state = Arc::new(StateHandle::new(initial_state));
    let mut registry = Registry::default();
    let stats = Arc::new(Stats::new(&mut registry));
    let metrics = crate::metrics::Metrics::new(
        &cfg.metrics,
        cfg.metrics_series_limit,
        &mut registry,
        stats.clone(),
    );
    let registry = Arc::new(registry);

    let (observer, sender, handle) = Observer::new(
        ObserverConfig {
            ring_capacity: cfg.buffer_capacity,
            queue_size: cfg.event_queue_size,
            redact: cfg.redact.clone(),
            processors: vec![Box::new(metrics)],
        },
        state.clone(),
        stats.clone(),
    )?;
    stats.attach_ring(&handle.ring);
    let mut announcer = Announcer::new(handle.agent_events.clone());
    announcer.loaded(initial_snapshot);
    let observer_task = tokio::spawn(observer.run());

    // The eBPF datapath, when asked for: attach, fill the maps, read the perf ring.
    let datapath = Arc::new(std::sync::Mutex::new(None::<Datapath>));
    let paused = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if !cfg.interfaces.is_empty() {
        let dcfg = DatapathConfig {
            transport: cfg.transport,
            wakeup_bytes: cfg.wakeup_bytes,
            interfaces: cfg.interfaces.clone(),
            aggregation: cfg.aggregation,
            cap_len: cfg.cap_len,
            dns_cap_len: cfg.dns_cap_len,
            perf_pages: cfg.perf_pages,
        };
        let mut dp = Datapath::load(&dcfg)?;
        for iface in &dcfg.interfaces {
            dp.attach(iface, cfg.replace_datapath)?;
        }
        dp.sync(&state.snapshot(), &initial_policy)?;
        dp.start_readers(
            dcfg.transport,
            dcfg.perf_pages,
            sender.clone(),
            paused.clone(),
        )?;
        tracing::info!(interfaces = ?dcfg.interfaces, "eBPF datapath attached");
        if let Ok(mut g) = datapath.lock() {
            *g = Some(dp);
        }
        let (dp, stats) = (datapath.clone(), stats.clone());
        // The ring buffer has no loss records: its failed reservations are the loss.
        let ringbuf_loss = (dcfg.transport == Transport::Ringbuf).then(|| sender.clone());
        tokio::spawn(async move {
            let mut last = PolledCounters::default();
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
            loop {
                tick.tick().await;
                let failed_before = last.failed;
                poll_datapath_counters(&dp, &stats, &mut last);
                let lost = last.failed.saturating_sub(failed_before);
                if let (Some(sender), true) = (&ringbuf_loss, lost > 0) {
                    sender.send(crate::observer::SourceEvent::PerfLost {
                        cpu: None,
                        count: lost,
                    });
                }
            }
        });
        // SIGUSR1 freezes and resumes the perf readers (to observe loss accounting).
        let paused = paused.clone();
        tokio::spawn(async move {
            let Ok(mut usr1) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
            else {
                return;
            };
            while usr1.recv().await.is_some() {
                let now = !paused.fetch_xor(true, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(paused = now, "perf readers toggled");
            }
        });
    }

    // The unix sockets come after the datapath, so a flowd without privileges fails on the
    // datapath (one clear line) without having created any socket file.
    // AGENT_STARTED is stored before any socket exists, so the first client sees it; the
    // reload handler is in place before then.
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    announcer.started();
    let access_log = AccessLogListener::bind(&cfg.access_log_socket)?;
    tracing::info!(path = %cfg.access_log_socket.display(), "access-log socket listening");
    let grpc_unix = match &cfg.unix_socket {
        Some(path) => Some(bind_unix(path)?),
        None => None,
    };
    let access_log_task = tokio::spawn(access_log.run(
        sender,
        stats.clone(),
        cfg.access_log_max_record,
        cfg.max_access_log_connections,
    ));

    let mut servers = tokio::task::JoinSet::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api_address = match &grpc_tcp {
        Some((_, listener)) => listener.local_addr().ok(),
        None => None,
    };
    let peer_map = crate::peers::spawn(cfg.peers.clone(), api_address, stop_rx.clone());
    let tls_cluster = cfg.tls.as_ref().map(|_| cfg.cluster_name.clone());
    let peer = api::peer::PeerService::new(
        handle.clone(),
        api_address,
        stop_rx.clone(),
        peer_map,
        tls_cluster,
    );
    let routes = api::grpc_routes(handle.clone(), peer).await?;
    let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    if let Some((addr, listener)) = grpc_tcp {
        let routes = routes.clone();
        let stop = stopped(stop_rx.clone());
        match tls {
            Some(tls) => {
                let mutual = tls.is_mutual();
                tracing::info!(address = %addr, tls = true, mutual, "Observer API listening");
                let watch_stop = stopped(stop_rx.clone());
                let watched = tls.clone();
                tokio::spawn(async move {
                    watched.watch(crate::tls::RELOAD_INTERVAL, watch_stop).await
                });
                let incoming = crate::tls::incoming(listener, tls);
                servers.spawn(async move {
                    tonic::transport::Server::builder()
                        .add_routes(routes)
                        .serve_with_incoming_shutdown(incoming, stop)
                        .await
                });
            }
            None => {
                tracing::info!(address = %addr, "Observer API listening");
                servers.spawn(async move {
                    tonic::transport::Server::builder()
                        .add_routes(routes)
                        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop)
                        .await
                });
            }
        }
    }
    let mut api_socket_path = None;
    if let Some((listener, owned)) = grpc_unix {
        tracing::info!(path = %owned.path().display(), "Observer API listening");
        api_socket_path = Some(owned);
        let routes = routes.clone();
        let stop = stopped(stop_rx.clone());
        // gRPC C-core clients send the socket path as an authority h2 refuses: repaired here.
        let incoming = UnixListenerStream::new(listener)
            .map(|conn| conn.map(api::authority::AuthorityRepair::new));
        servers.spawn(async move {
            tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming, stop)
                .await
        });
    }
    if let Some((addr, listener)) = metrics_tcp {
        tracing::info!(address = %addr, "metrics listening");
        let app = api::metrics::router(registry.clone());
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "metrics server failed");
            }
        });
    }

    // SIGHUP reloads the cluster state and policy; a bad file keeps the previous ones.
    let reload_cfg = cfg.clone();
    let reload_state = state.clone();
    let reload_dp = datapath.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = hup else {
            return;
        };
        while hup.recv().await.is_some() {
            if let Err(e) = reload(&reload_cfg, &reload_state, &reload_dp, &mut announcer).await {
                let message = format!("reload rejected, previous state stays in force: {e}");
                tracing::error!("{message}");
                announcer.rejected(&message);
            }
        }
    });

    tokio::select! {
        _ = shutdown => {}
        Some(res) = servers.join_next() => {
            if let Ok(Err(e)) = res {
                return Err(e.into());
            }
        }
    }
    // Streams end first: the servers' graceful shutdown waits for every open stream, and a
    // following client never ends its own.
    handle.stop_streams();
    let _ = stop_tx.send(true);
    access_log_task.abort();
    let _ = access_log_task.await;
    observer_task.abort();
    // Connections that still linger (a client that does not close) are cut after a bound.
    let drained = tokio::time::timeout(SERVER_DRAIN, async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("Observer API connections still open at shutdown; closing them");
        servers.shutdown().await;
    }
    // Removes the API socket file only if it is still the one bound here.
    drop(api_socket_path);
    // Detach exactly what was attached.
    if let Ok(mut g) = datapath.lock() {
        g.take();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announcer() -> Announcer {
        Announcer::new(Arc::new(
            crate::agent::AgentEventLog::new(7).expect("agent event log"),
        ))
    }

    /// A reload of a large state file must leave the runtime free: on a single-threaded
    /// runtime a ticker task has to keep ticking while the file is parsed.
    #[test]
    fn reload_parses_off_the_runtime() {
        let dir = std::env::temp_dir().join(format!("flowscope-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("state.yaml");
        let mut yaml = String::from("node_name: n\nendpoints:\n");
        for i in 0..20_000u32 {
            yaml.push_str(&format!(
                "  - {{name: p{i}, namespace: ns, labels: {{app: a{}}}, ips: [10.{}.{}.{}]}}\n",
                i % 500,
                i >> 16,
                (i >> 8) & 255,
                i & 255
            ));
        }
        std::fs::write(&path, yaml).expect("write");
        let cfg = Config {
            state_file: Some(path),
            ..Config::default()
        };
        let state = Arc::new(StateHandle::new(ClusterState::empty("old")));
        let datapath = Arc::new(std::sync::Mutex::new(None));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (result, ticks_during) = rt.block_on(async {
            let t = ticks.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
            tokio::task::yield_now().await;
            let before = ticks.load(std::sync::atomic::Ordering::Relaxed);
            let r = reload(&cfg, &state, &datapath, &mut announcer()).await;
            (r, ticks.load(std::sync::atomic::Ordering::Relaxed) - before)
        });
        let _ = std::fs::remove_dir_all(&dir);
        result.expect("reload");
        assert_eq!(state.snapshot().endpoints().len(), 20_000);
        assert!(
            ticks_during >= 3,
            "the runtime stalled during the reload ({ticks_during} ticks)"
        );
    }

    #[test]
    fn rejected_reload_keeps_the_state() {
        let dir = std::env::temp_dir().join(format!("flowscope-reload-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("state.yaml");
        let cfg = Config {
            state_file: Some(path.clone()),
            ..Config::default()
        };
        let state = Arc::new(StateHandle::new(ClusterState::empty("old")));
        let datapath = Arc::new(std::sync::Mutex::new(None));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for bad in ["", &"[".repeat(200_000)] {
            std::fs::write(&path, bad).expect("write");
            let err = rt
                .block_on(reload(&cfg, &state, &datapath, &mut announcer()))
                .expect_err("rejected");
            assert!(
                err.to_string().contains("document is empty")
                    || err.to_string().contains("nesting"),
                "{err}"
            );
            assert_eq!(state.snapshot().node_name(), "old");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

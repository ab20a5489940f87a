//! The eBPF datapath source: loads the tc programs, attaches them to interfaces, keeps the
//! ipcache and policy maps in sync with the cluster state, and reads the perf event array.
//!
//! Only this module touches aya. Dropping [`Datapath`] detaches exactly the programs it
//! attached (and removes a clsact qdisc only if it created one, on kernels without tcx).

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::perf::{PerfEvent, PerfEventArray, PerfEventArrayBuffer};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::{SchedClassifier, TcAttachType, tc};
use aya::util::KernelVersion;
use aya::{Ebpf, EbpfError};
use flowscope_ebpf::layout::{
    self, Config, EnforceKey, IpcacheValue, PolicyKey, PolicyValue, STAT_DROPPED,
    STAT_EVENTS_EMITTED, STAT_EVENTS_FAILED, STAT_FORWARDED,
};
use flowscope_ebpf::{FROM_ENDPOINT, PROGRAM, TO_ENDPOINT, maps};
use tokio::io::unix::AsyncFd;

use crate::identity::ClusterState;
use crate::observer::{EventSender, SourceEvent};
use crate::policy::CompiledPolicy;

#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    #[error(
        "cannot load the eBPF programs: {0} (flowd needs root, or CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON)"
    )]
    Load(String),
    #[error("cannot attach to interface {iface}: {reason}")]
    Attach { iface: String, reason: String },
    #[error("eBPF map {map}: {reason}")]
    Map { map: &'static str, reason: String },
    #[error("perf buffer: {0}")]
    Perf(String),
}

/// Monitor aggregation, as Cilium's `monitor-aggregation` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Aggregation {
    /// Every packet.
    None,
    /// New connections, TCP flag changes and closes.
    #[default]
    Medium,
    /// New and closed connections only.
    Maximum,
}

impl Aggregation {
    fn as_u32(self) -> u32 {
        match self {
            Aggregation::None => layout::AGG_NONE,
            Aggregation::Medium => layout::AGG_MEDIUM,
            Aggregation::Maximum => layout::AGG_MAXIMUM,
        }
    }
}

/// How events travel from the programs to flowd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Transport {
    /// A perf event array: one ring per CPU, a wake-up per event.
    Perf,
    /// One BPF ring buffer with batched wake-ups (a byte threshold, and a 10 ms drain).
    #[default]
    Ringbuf,
}

/// Datapath settings.
#[derive(Debug, Clone)]
pub struct DatapathConfig {
    pub transport: Transport,
    /// Ring buffer: wake the reader once this many bytes are queued.
    pub wakeup_bytes: u32,
    pub interfaces: Vec<String>,
    pub aggregation: Aggregation,
    /// Packet bytes copied after each event header (at most 128).
    pub cap_len: u32,
    /// DNS packets copied in full up to this many bytes (at most 512; 0: off).
    pub dns_cap_len: u32,
    /// Perf ring pages per CPU (a power of two).
    pub perf_pages: usize,
}

/// Packet and event counters summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub forwarded: u64,
    pub dropped: u64,
    pub events_emitted: u64,
    pub events_failed: u64,
}

/// The loaded, attached datapath.
pub struct Datapath {
    ebpf: Ebpf,
    created_qdiscs: Vec<String>,
    interfaces: Vec<String>,
}

/// An error and its sources on one line (aya's errors keep the OS error as a source).
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

fn map_err(map: &'static str) -> impl Fn(aya::maps::MapError) -> DatapathError {
    move |e| DatapathError::Map {
        map,
        reason: e.to_string(),
    }
}

impl Datapath {
    /// Loads the programs and configures them; attaches nothing yet.
    pub fn load(cfg: &DatapathConfig) -> Result<Self, DatapathError> {
        let mut ebpf =
            Ebpf::load(PROGRAM).map_err(|e: EbpfError| DatapathError::Load(with_sources(&e)))?;
        for name in [FROM_ENDPOINT, TO_ENDPOINT] {
            let prog: &mut SchedClassifier = ebpf
                .program_mut(name)
                .ok_or_else(|| DatapathError::Load(format!("program {name} missing")))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| DatapathError::Load(e.to_string()))?;
            prog.load()
                .map_err(|e| DatapathError::Load(format!("{name}: {e}")))?;
        }
        let mut config: Array<_, Config> = Array::try_from(
            ebpf.map_mut(maps::CONFIG)
                .ok_or_else(|| DatapathError::Load("config map missing".into()))?,
        )
        .map_err(map_err(maps::CONFIG))?;
        config
            .set(
                0,
                Config {
                    aggregation: cfg.aggregation.as_u32(),
                    cap_len: cfg.cap_len.min(128),
                    transport: match cfg.transport {
                        Transport::Perf => layout::TRANSPORT_PERF,
                        Transport::Ringbuf => layout::TRANSPORT_RINGBUF,
                    },
                    wakeup_bytes: cfg.wakeup_bytes,
                    dns_cap_len: cfg.dns_cap_len.min(512),
                },
                0,
            )
            .map_err(map_err(maps::CONFIG))?;
        Ok(Datapath {
            ebpf,
            created_qdiscs: Vec::new(),
            interfaces: Vec::new(),
        })
    }

    /// Attaches `from_endpoint` to tc ingress and `to_endpoint` to tc egress of `iface`.
    /// If flowd's programs are already there (another flowd), refuses unless `replace`, in
    /// which case those are detached first.
    pub fn attach(&mut self, iface: &str, replace: bool) -> Result<(), DatapathError> {
        let err = |reason: String| DatapathError::Attach {
            iface: iface.to_string(),
            reason,
        };
        // tcx (kernel 6.6+) needs no qdisc; older kernels attach through clsact.
        let tcx = KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0));
        use super::attached::{self, Direction};
        let ours = [
            (FROM_ENDPOINT, Direction::Ingress),
            (TO_ENDPOINT, Direction::Egress),
        ];
        let found = attached::find(iface, &ours, tcx);
        if !found.is_empty() {
            if !replace {
                return Err(err(
                    "flowd's programs are already attached (another flowd running?); stop it, \
                     or pass --replace-datapath to detach them and attach these"
                        .to_string(),
                ));
            }
            attached::detach(iface, &found)
                .map_err(|e| err(format!("cannot detach the programs already attached: {e}")))?;
            tracing::warn!(
                interface = iface,
                replaced = found.len(),
                "replaced the datapath programs another flowd attached"
            );
        }
        if !tcx {
            match tc::qdisc_add_clsact(iface) {
                Ok(()) => self.created_qdiscs.push(iface.to_string()),
                Err(tc::TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(err(e.to_string())),
            }
        }
        for (name, at) in [
            (FROM_ENDPOINT, TcAttachType::Ingress),
            (TO_ENDPOINT, TcAttachType::Egress),
        ] {
            let prog: &mut SchedClassifier = self
                .ebpf
                .program_mut(name)
                .ok_or_else(|| err(format!("program {name} missing")))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| err(e.to_string()))?;
            prog.attach(iface, at).map_err(|e| err(e.to_string()))?;
        }
        self.interfaces.push(iface.to_string());
        Ok(())
    }

    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Makes the ipcache, policy and enforcement maps match `state` and `policy` exactly.
    pub fn sync(
        &mut self,
        state: &ClusterState,
        policy: &CompiledPolicy,
    ) -> Result<(), DatapathError> {
        let mut v4: BTreeMap<(u32, [u8; 4]), IpcacheValue> = BTreeMap::new();
        let mut v6: BTreeMap<(u32, [u8; 16]), IpcacheValue> = BTreeMap::new();
        for (net, id) in &policy.cidrs {
            let value = IpcacheValue {
                identity: *id,
                ..Default::default()
            };
            match net.addr() {
                IpAddr::V4(a) => v4.insert((u32::from(net.prefix_len()), a.octets()), value),
                IpAddr::V6(a) => v6.insert((u32::from(net.prefix_len()), a.octets()), value),
            };
        }
        for ep in state.endpoints() {
            let value = IpcacheValue {
                identity: ep.identity,
                endpoint_id: ep
                    .endpoint_id
                    .and_then(|id| u16::try_from(id).ok())
                    .unwrap_or(0),
                pad: 0,
            };
            for ip in &ep.ips {
                match ip {
                    IpAddr::V4(a) => v4.insert((32, a.octets()), value),
                    IpAddr::V6(a) => v6.insert((128, a.octets()), value),
                };
            }
        }
        sync_lpm(&mut self.ebpf, maps::IPCACHE4, &v4)?;
        sync_lpm(&mut self.ebpf, maps::IPCACHE6, &v6)?;

        let mut pol: BpfHashMap<_, PolicyKey, PolicyValue> =
            BpfHashMap::try_from(self.ebpf.map_mut(maps::POLICY).ok_or_else(|| {
                DatapathError::Map {
                    map: maps::POLICY,
                    reason: "missing".into(),
                }
            })?)
            .map_err(map_err(maps::POLICY))?;
        let stale: Vec<PolicyKey> = pol
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !policy.entries.contains_key(k))
            .collect();
        for k in stale {
            pol.remove(&k).map_err(map_err(maps::POLICY))?;
        }
        for (k, v) in &policy.entries {
            pol.insert(k, v, 0).map_err(map_err(maps::POLICY))?;
        }

        let mut enforce: BpfHashMap<_, EnforceKey, u8> =
            BpfHashMap::try_from(self.ebpf.map_mut(maps::ENFORCE).ok_or_else(|| {
                DatapathError::Map {
                    map: maps::ENFORCE,
                    reason: "missing".into(),
                }
            })?)
            .map_err(map_err(maps::ENFORCE))?;
        let stale: Vec<EnforceKey> = enforce
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !policy.enforce.contains(k))
            .collect();
        for k in stale {
            enforce.remove(&k).map_err(map_err(maps::ENFORCE))?;
        }
        for k in &policy.enforce {
            enforce.insert(k, 1, 0).map_err(map_err(maps::ENFORCE))?;
        }
        Ok(())
    }

    /// Packet and event counters, summed over CPUs.
    pub fn counters(&self) -> Result<Counters, DatapathError> {
        let stats: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.ebpf.map(maps::STATS).ok_or_else(|| {
                DatapathError::Map {
                    map: maps::STATS,
                    reason: "missing".into(),
                }
            })?)
            .map_err(map_err(maps::STATS))?;
        let sum = |i: u32| -> Result<u64, DatapathError> {
            Ok(stats.get(&i, 0).map_err(map_err(maps::STATS))?.iter().sum())
        };
        Ok(Counters {
            forwarded: sum(STAT_FORWARDED)?,
            dropped: sum(STAT_DROPPED)?,
            events_emitted: sum(STAT_EVENTS_EMITTED)?,
            events_failed: sum(STAT_EVENTS_FAILED)?,
        })
    }

    /// Dropped packets by drop reason code, summed over CPUs (non-zero only).
    pub fn drops_by_reason(&self) -> Result<Vec<(u8, u64)>, DatapathError> {
        let drops: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.ebpf.map(maps::DROPS).ok_or_else(|| {
                DatapathError::Map {
                    map: maps::DROPS,
                    reason: "missing".into(),
                }
            })?)
            .map_err(map_err(maps::DROPS))?;
        let mut out = Vec::new();
        for reason in 0..=255u8 {
            let n: u64 = drops
                .get(&u32::from(reason), 0)
                .map_err(map_err(maps::DROPS))?
                .iter()
                .sum();
            if n > 0 {
                out.push((reason, n));
            }
        }
        Ok(out)
    }

    /// Starts reading events: the BPF ring buffer, or one perf buffer per online CPU.
    pub fn start_readers(
        &mut self,
        transport: Transport,
        pages: usize,
        sender: EventSender,
        paused: Arc<AtomicBool>,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, DatapathError> {
        if transport == Transport::Ringbuf {
            let map = self
                .ebpf
                .take_map(maps::RINGBUF)
                .ok_or_else(|| DatapathError::Map {
                    map: maps::RINGBUF,
                    reason: "missing (readers already started?)".into(),
                })?;
            let rb = RingBuf::try_from(map).map_err(map_err(maps::RINGBUF))?;
            // SAFETY: the AsyncFd owns the ring buffer, which owns its descriptor.
            let fd = unsafe { AsyncFd::register(rb) }
                .map_err(|e| DatapathError::Perf(io::Error::from(e).to_string()))?;
            return Ok(vec![tokio::spawn(read_ringbuf(fd, sender, paused))]);
        }
        let map = self
            .ebpf
            .take_map(maps::EVENTS)
            .ok_or_else(|| DatapathError::Map {
                map: maps::EVENTS,
                reason: "missing (readers already started?)".into(),
            })?;
        let mut events = PerfEventArray::try_from(map).map_err(map_err(maps::EVENTS))?;
        let cpus = aya::util::online_cpus()
            .map_err(|(msg, e)| DatapathError::Perf(format!("{msg}: {e}")))?;
        let mut tasks = Vec::new();
        for cpu in cpus {
            let buf = events
                .open(cpu, Some(pages))
                .map_err(|e| DatapathError::Perf(e.to_string()))?;
            let fd = register(buf).map_err(|e| DatapathError::Perf(e.to_string()))?;
            tasks.push(tokio::spawn(read_cpu(
                fd,
                cpu,
                sender.clone(),
                paused.clone(),
            )));
        }
        Ok(tasks)
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        // The programs' links are detached when `ebpf` drops; qdiscs are ours to remove.
        for iface in &self.created_qdiscs {
            let _ = std::process::Command::new("tc")
                .args(["qdisc", "del", "dev", iface, "clsact"])
                .status();
        }
    }
}

fn sync_lpm<const N: usize>(
    ebpf: &mut Ebpf,
    name: &'static str,
    want: &BTreeMap<(u32, [u8; N]), IpcacheValue>,
) -> Result<(), DatapathError>
where
    [u8; N]: aya::Pod,
{
    let mut trie: LpmTrie<_, [u8; N], IpcacheValue> =
        LpmTrie::try_from(ebpf.map_mut(name).ok_or_else(|| DatapathError::Map {
            map: name,
            reason: "missing".into(),
        })?)
        .map_err(map_err(name))?;
    let have: HashSet<(u32, [u8; N])> = trie
        .keys()
        .filter_map(Result::ok)
        .map(|k| (k.prefix_len(), k.data()))
        .collect();
    for k in have.iter().filter(|k| !want.contains_key(k)) {
        trie.remove(&Key::new(k.0, k.1)).map_err(map_err(name))?;
    }
    for ((prefix, addr), v) in want {
        trie.insert(&Key::new(*prefix, *addr), *v, 0)
            .map_err(map_err(name))?;
    }
    Ok(())
}

fn register(
    buf: PerfEventArrayBuffer<MapData>,
) -> io::Result<AsyncFd<PerfEventArrayBuffer<MapData>>> {
    // SAFETY: the AsyncFd owns the buffer, which owns the perf event descriptor, so the
    // descriptor stays open for as long as it is registered.
    let _ = buf.as_raw_fd();
    unsafe { AsyncFd::register(buf) }.map_err(io::Error::from)
}

async fn read_ringbuf(
    mut fd: AsyncFd<RingBuf<MapData>>,
    sender: EventSender,
    paused: Arc<AtomicBool>,
) {
    let mut parser = sender.datapath_parser();
    // The programs submit without waking the reader until a byte threshold; the timer bounds
    // the added latency when traffic is light.
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
    loop {
        tokio::select! {
            r = fd.readable_mut() => match r {
                Ok(mut guard) => guard.clear_ready(),
                Err(e) => {
                    tracing::error!(error = %e, "ring buffer reader stopped");
                    return;
                }
            },
            _ = tick.tick() => {}
        }
        if paused.load(Ordering::Relaxed) {
            continue;
        }
        let rb = fd.get_mut();
        while let Some(item) = rb.next() {
            let bytes: &[u8] = &item;
            let len = bytes
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_ne_bytes)
                .unwrap_or(0) as usize;
            if let Some(record) = bytes.get(4..4 + len) {
                sender.datapath(&mut parser, record);
            }
        }
    }
}

async fn read_cpu(
    mut fd: AsyncFd<PerfEventArrayBuffer<MapData>>,
    cpu: u32,
    sender: EventSender,
    paused: Arc<AtomicBool>,
) {
    let mut parser = sender.datapath_parser();
    let mut data = Vec::new();
    loop {
        if paused.load(Ordering::Relaxed) {
            // Frozen (SIGUSR1): the kernel keeps writing until the ring is full, then counts
            // what it loses; we report those counts when reading resumes.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        let mut guard = match fd.readable_mut().await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(cpu, error = %e, "perf reader stopped");
                return;
            }
        };
        guard.get_inner_mut().for_each(|ev| match ev {
            PerfEvent::Sample { head, tail: [] } => {
                sender.datapath(&mut parser, head);
            }
            PerfEvent::Sample { head, tail } => {
                // A sample that wraps around the end of the ring.
                data.clear();
                data.extend_from_slice(head);
                data.extend_from_slice(tail);
                sender.datapath(&mut parser, &data);
            }
            PerfEvent::Lost { count } => sender.send(SourceEvent::PerfLost {
                cpu: Some(cpu),
                count,
            }),
        });
        guard.clear_ready();
    }
}

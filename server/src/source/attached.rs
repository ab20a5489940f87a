//! flowd's programs already attached to an interface, by another flowd (or a crashed one
//! whose links were pinned elsewhere): found before attaching so two instances never chain
//! four programs on one interface silently, and removed only when asked to replace them.
//!
//! With tcx (kernel 6.6+) programs are attached through links; aya lists the programs on an
//! interface but cannot detach another process' link, so the link is found and detached
//! with the bpf(2) link commands here. Older kernels attach through clsact filters, which
//! `tc` lists and aya can remove by name.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use aya::programs::{SchedClassifier, TcAttachType, tc};

const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_GET_NEXT_ID: libc::c_long = 31;
const BPF_LINK_DETACH: libc::c_long = 34;
const BPF_LINK_TYPE_TCX: u32 = 11;

/// One of flowd's programs found on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A tcx attachment: the program's id.
    Tcx { prog_id: u32, name: String },
    /// A clsact filter, by program name.
    Filter { attach: Direction, name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn tc(self) -> TcAttachType {
        match self {
            Direction::Ingress => TcAttachType::Ingress,
            Direction::Egress => TcAttachType::Egress,
        }
    }

    fn tc_name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// flowd's programs (`names`, in each direction) attached to `iface` right now.
pub fn find(iface: &str, names: &[(&str, Direction)], tcx: bool) -> Vec<Found> {
    let mut out = Vec::new();
    for &(name, dir) in names {
        if tcx && let Ok((_, progs)) = SchedClassifier::query_tcx(iface, dir.tc()) {
            out.extend(
                progs
                    .iter()
                    .filter(|p| p.name_as_str() == Some(name))
                    .map(|p| Found::Tcx {
                        prog_id: p.id(),
                        name: name.to_string(),
                    }),
            );
        }
        // Filters: `tc` prints the program name of a bpf filter (`bpf name NAME`).
        let listed = std::process::Command::new("tc")
            .args(["filter", "show", "dev", iface, dir.tc_name()])
            .output();
        if let Ok(o) = listed
            && String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .any(|w| w == name)
        {
            out.push(Found::Filter {
                attach: dir,
                name: name.to_string(),
            });
        }
    }
    out
}

/// Detaches what [`find`] found on `iface`.
pub fn detach(iface: &str, found: &[Found]) -> io::Result<()> {
    let prog_ids: Vec<u32> = found
        .iter()
        .filter_map(|f| match f {
            Found::Tcx { prog_id, .. } => Some(*prog_id),
            Found::Filter { .. } => None,
        })
        .collect();
    if !prog_ids.is_empty() {
        detach_tcx_links(ifindex(iface)?, &prog_ids)?;
    }
    for f in found {
        if let Found::Filter { attach, name } = f {
            tc::qdisc_detach_program(iface, attach.tc(), name)
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
    }
    Ok(())
}

fn ifindex(iface: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(iface).map_err(io::Error::other)?;
    // SAFETY: `name` is a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

fn bpf(cmd: libc::c_long, attr: &mut [u64]) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-initialized, 8-byte aligned buffer at least as large as the
    // union member this command reads; the size passed is its exact byte length.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// Detaches every tcx link on `ifindex` whose program is one of `prog_ids`.
fn detach_tcx_links(ifindex: u32, prog_ids: &[u32]) -> io::Result<()> {
    let mut id = 0u32;
    loop {
        // union bpf_attr { struct { __u32 start_id; __u32 next_id; __u32 open_flags; } }
        let mut attr = [0u64; 2];
        attr[0] = u64::from(id);
        match bpf(BPF_LINK_GET_NEXT_ID, &mut attr) {
            Ok(_) => id = (attr[0] >> 32) as u32,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        }
        // union bpf_attr { struct { __u32 link_id; __u32 next_id; __u32 open_flags; } }
        let mut attr = [u64::from(id), 0];
        let fd = match bpf(BPF_LINK_GET_FD_BY_ID, &mut attr) {
            // SAFETY: the kernel returned a new descriptor that nothing else owns.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) },
            // Gone meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        // struct bpf_link_info { __u32 type; __u32 id; __u32 prog_id; union (8-aligned, at
        // byte 16) { struct { __u32 ifindex; __u32 attach_type; } tcx; ... } }
        let mut info = [0u64; 8];
        let mut attr = [0u64; 2];
        attr[0] = fd.as_raw_fd() as u64 | ((std::mem::size_of_val(&info) as u64) << 32);
        attr[1] = info.as_mut_ptr() as u64;
        bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
        let link_type = info[0] as u32;
        let prog_id = info[1] as u32;
        let link_ifindex = info[2] as u32;
        if link_type == BPF_LINK_TYPE_TCX && link_ifindex == ifindex && prog_ids.contains(&prog_id)
        {
            // union bpf_attr { struct { __u32 link_fd; } link_detach; }
            let mut attr = [fd.as_raw_fd() as u64, 0];
            bpf(BPF_LINK_DETACH, &mut attr)?;
        }
    }
}

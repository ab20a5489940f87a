/* Map keys and values, and the monitor event layouts, shared by the datapath programs and
 * flowd. The Rust side mirrors every struct in ebpf/src/layout.rs; a test compares sizes and
 * offsets compiled from this header against the Rust definitions. */
#ifndef FLOWSCOPE_H
#define FLOWSCOPE_H

#include <linux/types.h>

/* ---- ipcache: prefix -> security identity (one LPM trie per family) ---- */
struct ipcache4_key {
	__u32 prefixlen;
	__u32 addr; /* network byte order */
};

struct ipcache6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct ipcache_value {
	__u32 identity;
	__u16 endpoint_id; /* non-zero for endpoints local to this node */
	__u16 pad;
};

/* ---- policy: (local identity, remote identity, port, protocol, direction) -> verdict ---- */
#define DIR_INGRESS 1
#define DIR_EGRESS 2

struct policy_key {
	__u32 local_identity;
	__u32 remote_identity; /* 0 = any remote (L4-only rules) */
	__u16 dport;           /* host byte order; 0 = any port */
	__u8 proto;            /* 0 = any protocol */
	__u8 direction;        /* DIR_INGRESS or DIR_EGRESS */
};

#define ACTION_ALLOW 1
#define ACTION_DENY 2
#define ACTION_AUDIT 3

struct policy_value {
	__u8 action;
	__u8 pad[3];
	__u32 cookie; /* rule id, reported as the policy-verdict cookie */
};

/* Endpoints selected by a rule in a direction are default-deny in that direction. */
struct enforce_key {
	__u32 identity;
	__u8 direction;
	__u8 pad[3];
};

/* ---- connection tracking for first-packet detection and aggregation ---- */
struct conn_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 family;
	__u8 hook; /* 0 = tc ingress, 1 = tc egress */
	__u8 pad;
	__u32 ifindex;
};

struct conn_value {
	__u8 tcp_flags_seen;
	__u8 reply_flags_seen; /* the reply direction, kept in the request's entry */
	__u16 pad;
	__u32 pad2;
};

/* ---- configuration (array, one element) ---- */
#define AGG_NONE 0
#define AGG_MEDIUM 1
#define AGG_MAXIMUM 2

#define TRANSPORT_PERF 0
#define TRANSPORT_RINGBUF 1

struct config {
	__u32 aggregation;
	__u32 cap_len;      /* packet bytes copied after each event header, <= 128 */
	__u32 transport;    /* TRANSPORT_PERF or TRANSPORT_RINGBUF */
	__u32 wakeup_bytes; /* ring buffer: wake the reader once this much data is queued */
	__u32 dns_cap_len;  /* DNS packets (port 53) copied in full up to this, <= 512; 0: off */
};

/* A ring-buffer record: the monitor record's length, then the record (header + packet). */
struct rb_event {
	__u32 len;
	__u8 data[48 + 128];
};

/* flowd's own message type: a DNS packet (UDP or TCP port 53) copied up to dns_cap_len
 * behind a TraceNotify v1 header. Outside Cilium's message types. */
#define FLOWSCOPE_NOTIFY_DNS 250
#define MAX_DNS_CAP_LEN 512
struct rb_dns_event {
	__u32 len;
	__u8 data[48 + MAX_DNS_CAP_LEN];
};

/* ---- per-CPU counters (array index) ---- */
#define STAT_FORWARDED 0
#define STAT_DROPPED 1
#define STAT_EVENTS_EMITTED 2
#define STAT_EVENTS_FAILED 3
#define STAT_MAX 4
/* Drops by reason live in a second per-CPU array indexed by reason code (0..255). */

/* ---- monitor event layouts (Cilium, pkg/monitor) ---- */
#define CILIUM_NOTIFY_DROP 1
#define CILIUM_NOTIFY_TRACE 4
#define CILIUM_NOTIFY_POLICY_VERDICT 5

struct notify_hdr {
	__u8 type;
	__u8 subtype;
	__u16 source;
	__u32 hash;
	__u32 len_orig;
	__u16 len_cap;
	__u8 version;
	__u8 ext_version;
};

/* TraceNotify v1: 48 bytes. */
struct trace_notify {
	struct notify_hdr hdr;
	__u32 src_label;
	__u32 dst_label;
	__u16 dst_id;
	__u8 reason;
	__u8 flags;
	__u32 ifindex;
	__u8 orig_ip[16];
};

/* DropNotify v3: 48 bytes. */
struct drop_notify {
	struct notify_hdr hdr;
	__u32 src_label;
	__u32 dst_label;
	__u32 dst_id;
	__u16 line;
	__u8 file;
	__s8 ext_error;
	__u32 ifindex;
	__u8 flags;
	__u8 pad[3];
	__u64 ip_trace_id;
};

/* PolicyVerdictNotify: 40 bytes. */
struct policy_verdict_notify {
	struct notify_hdr hdr;
	__u32 remote_label;
	__s32 verdict;
	__u16 dst_port;
	__u8 proto;
	__u8 flags;
	__u8 auth_type;
	__u8 pad0[3];
	__u32 cookie;
	__u32 pad1;
};

#define TRACE_FLAG_IPV6 0x01
#define TRACE_REASON_NEW 0
#define TRACE_REASON_ESTABLISHED 1
#define TRACE_REASON_REPLY 2
#define OBS_TO_ENDPOINT 0
#define OBS_FROM_ENDPOINT 5
#define DROP_POLICY_DENIED 133
#define DROP_POLICY_DENY 181
#define BPF_FILE_FLOWSCOPE 2 /* reported as bpf_lxc.c: the endpoint program's file id */

#define MATCH_NONE 0
#define MATCH_L3_ONLY 1
#define MATCH_L3_L4 2
#define MATCH_L4_ONLY 3
#define MATCH_ALL 4

#define MAX_CAP_LEN 128

#endif

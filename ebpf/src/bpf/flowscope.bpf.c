// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Flowscope's datapath: tc classifiers that resolve each packet's source and destination
 * security identity from the ipcache, enforce identity-based policy on the first packet of a
 * connection, and report trace / drop / policy-verdict events in Cilium's monitor layouts.
 *
 * Attach both programs to an endpoint's host-side interface: tc ingress sees packets coming
 * from the endpoint (FROM_ENDPOINT, the source's egress policy), tc egress sees packets going
 * to it (TO_ENDPOINT, the destination's ingress policy). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>

#include "flowscope.h"

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
				   __u64 flags) = (void *)BPF_FUNC_map_update_elem;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data,
				     __u64 size) = (void *)BPF_FUNC_perf_event_output;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) =
	(void *)BPF_FUNC_ringbuf_reserve;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)BPF_FUNC_ringbuf_submit;
static __u64 (*bpf_ringbuf_query)(void *ringbuf, __u64 flags) = (void *)BPF_FUNC_ringbuf_query;
static long (*bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to, __u32 len) =
	(void *)BPF_FUNC_skb_load_bytes;

#define bswap16(x) __builtin_bswap16(x)
#define WORLD_ID 2

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__type(key, struct ipcache4_key);
	__type(value, struct ipcache_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ipcache4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__type(key, struct ipcache6_key);
	__type(value, struct ipcache_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} ipcache6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct policy_key);
	__type(value, struct policy_value);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct enforce_key);
	__type(value, __u8);
} enforce SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct conn_value);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct packet {
	__u8 family; /* 4, 6, or 0 for non-IP */
	__u8 proto;
	__u8 tcp_flags; /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 */
	__u8 pad;
	__u16 sport; /* host order */
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline void count_drop(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &reason);
	if (v)
		*v += 1;
}

static __always_inline int parse(struct __sk_buff *skb, struct packet *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	void *l4;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (eth->h_proto == bswap16(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return -1;
		p->family = 4;
		p->proto = ip->protocol;
		__builtin_memcpy(p->saddr, &ip->saddr, 4);
		__builtin_memcpy(p->daddr, &ip->daddr, 4);
		l4 = (void *)ip + (ip->ihl & 0xf) * 4;
		if (ip->frag_off & bswap16(0x1fff))
			return 0; /* later fragments carry no L4 header */
	} else if (eth->h_proto == bswap16(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return -1;
		p->family = 6;
		p->proto = ip6->nexthdr;
		__builtin_memcpy(p->saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->daddr, &ip6->daddr, 16);
		l4 = (void *)(ip6 + 1);
	} else {
		return 0;
	}
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end)
			return 0;
		p->sport = bswap16(tcp->source);
		p->dport = bswap16(tcp->dest);
		p->tcp_flags = ((__u8 *)tcp)[13] & 0x3f;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > data_end)
			return 0;
		p->sport = bswap16(udp->source);
		p->dport = bswap16(udp->dest);
	} else if (p->proto == IPPROTO_ICMP || p->proto == IPPROTO_ICMPV6) {
		/* Echo id in both ports, so a reply's reversed tuple matches its request. */
		__u8 *icmp = l4;
		if ((void *)(icmp + 8) > data_end)
			return 0;
		__u16 id = ((__u16)icmp[4] << 8) | icmp[5];
		p->sport = id;
		p->dport = id;
	}
	return 0;
}

static __always_inline void lookup_identity(struct packet *p, __u8 *addr, __u32 *id, __u16 *ep)
{
	struct ipcache_value *v = 0;
	if (p->family == 4) {
		struct ipcache4_key k = { .prefixlen = 32 };
		__builtin_memcpy(&k.addr, addr, 4);
		v = bpf_map_lookup_elem(&ipcache4, &k);
	} else if (p->family == 6) {
		struct ipcache6_key k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, addr, 16);
		v = bpf_map_lookup_elem(&ipcache6, &k);
	}
	if (v) {
		*id = v->identity;
		*ep = v->endpoint_id;
	} else {
		*id = p->family ? WORLD_ID : 0;
		*ep = 0;
	}
}

#define VERDICT_NO_POLICY 0
#define VERDICT_ALLOW 1
#define VERDICT_DENY 2
#define VERDICT_AUDIT 3
#define VERDICT_DEFAULT_DENY 4

/* Cilium's lookup order: L3-L4, L3-only, L4-only, allow-all; a deny anywhere wins. */
static __always_inline int policy_lookup(__u32 local, __u32 remote, __u16 dport, __u8 proto,
					 __u8 dir, __u8 *match, __u32 *cookie)
{
	struct policy_key keys[4] = {
		{ local, remote, dport, proto, dir },
		{ local, remote, 0, 0, dir },
		{ local, 0, dport, proto, dir },
		{ local, 0, 0, 0, dir },
	};
	const __u8 matches[4] = { MATCH_L3_L4, MATCH_L3_ONLY, MATCH_L4_ONLY, MATCH_ALL };
	int found = VERDICT_NO_POLICY;
	__u8 found_match = MATCH_NONE;
	__u32 found_cookie = 0;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		struct policy_value *v = bpf_map_lookup_elem(&policy, &keys[i]);
		if (!v)
			continue;
		if (v->action == ACTION_DENY) {
			*match = matches[i];
			*cookie = v->cookie;
			return VERDICT_DENY;
		}
		if (found == VERDICT_NO_POLICY) {
			found = v->action == ACTION_AUDIT ? VERDICT_AUDIT : VERDICT_ALLOW;
			found_match = matches[i];
			found_cookie = v->cookie;
		}
	}
	if (found != VERDICT_NO_POLICY) {
		*match = found_match;
		*cookie = found_cookie;
		return found;
	}
	struct enforce_key ek = { .identity = local, .direction = dir };
	if (bpf_map_lookup_elem(&enforce, &ek)) {
		*match = MATCH_NONE;
		*cookie = 0;
		return VERDICT_DEFAULT_DENY;
	}
	*match = MATCH_ALL;
	*cookie = 0;
	return VERDICT_NO_POLICY;
}

static __always_inline __u64 cap_flags(struct __sk_buff *skb, struct config *cfg)
{
	__u64 cap = skb->len;
	__u64 max = cfg ? cfg->cap_len : MAX_CAP_LEN;
	if (max > MAX_CAP_LEN)
		max = MAX_CAP_LEN;
	if (cap > max)
		cap = max;
	return (cap << 32) | BPF_F_CURRENT_CPU;
}

static __always_inline __u16 cap_len(__u64 flags)
{
	return (__u16)(flags >> 32);
}

static __always_inline void emit(struct __sk_buff *skb, void *msg, __u64 size, __u64 flags,
				 struct config *cfg)
{
	if (cfg && cfg->transport == TRANSPORT_RINGBUF) {
		struct rb_event *e = bpf_ringbuf_reserve(&ringbuf, sizeof(*e), 0);
		if (!e) {
			count(STAT_EVENTS_FAILED);
			return;
		}
		__builtin_memcpy(e->data, msg, size);
		__u32 cap = (__u32)(flags >> 32);
		if (cap > 0) {
			/* In [1, 128] by construction, which the verifier can follow. */
			__u32 len = ((cap - 1) & (MAX_CAP_LEN - 1)) + 1;
			if (bpf_skb_load_bytes(skb, 0, e->data + size, len) < 0)
				len = 0;
			cap = len;
		}
		e->len = size + cap;
		/* Batch wake-ups: the reader also drains on a short timer. */
		__u64 queued = bpf_ringbuf_query(&ringbuf, BPF_RB_AVAIL_DATA);
		bpf_ringbuf_submit(e, queued >= cfg->wakeup_bytes ? BPF_RB_FORCE_WAKEUP :
								     BPF_RB_NO_WAKEUP);
		count(STAT_EVENTS_EMITTED);
		return;
	}
	if (bpf_perf_event_output(skb, &events, flags, msg, size) == 0)
		count(STAT_EVENTS_EMITTED);
	else
		count(STAT_EVENTS_FAILED);
}

/* A forwarded DNS packet in full (up to dns_cap_len): flowd decodes it into DNS flows. */
static __always_inline void emit_dns(struct __sk_buff *skb, struct trace_notify *tn,
				     struct config *cfg)
{
	__u64 cap = skb->len;
	__u64 max = cfg->dns_cap_len;
	if (max > MAX_DNS_CAP_LEN)
		max = MAX_DNS_CAP_LEN;
	if (cap > max)
		cap = max;
	if (cap == 0)
		return;
	tn->hdr.type = FLOWSCOPE_NOTIFY_DNS;
	tn->hdr.len_cap = (__u16)cap;
	if (cfg->transport == TRANSPORT_RINGBUF) {
		struct rb_dns_event *e = bpf_ringbuf_reserve(&ringbuf, sizeof(*e), 0);
		if (!e) {
			count(STAT_EVENTS_FAILED);
			return;
		}
		__builtin_memcpy(e->data, tn, sizeof(*tn));
		/* In [1, 512] by construction, which the verifier can follow. */
		__u32 len = (((__u32)cap - 1) & (MAX_DNS_CAP_LEN - 1)) + 1;
		if (bpf_skb_load_bytes(skb, 0, e->data + sizeof(*tn), len) < 0)
			len = 0;
		e->len = sizeof(*tn) + len;
		__u64 queued = bpf_ringbuf_query(&ringbuf, BPF_RB_AVAIL_DATA);
		bpf_ringbuf_submit(e, queued >= cfg->wakeup_bytes ? BPF_RB_FORCE_WAKEUP :
								     BPF_RB_NO_WAKEUP);
		count(STAT_EVENTS_EMITTED);
		return;
	}
	if (bpf_perf_event_output(skb, &events, (cap << 32) | BPF_F_CURRENT_CPU, tn,
				  sizeof(*tn)) == 0)
		count(STAT_EVENTS_EMITTED);
	else
		count(STAT_EVENTS_FAILED);
}

static __always_inline void fill_hdr(struct notify_hdr *h, __u8 type, __u8 subtype, __u16 source,
				     struct __sk_buff *skb, __u64 flags, __u8 version)
{
	h->type = type;
	h->subtype = subtype;
	h->source = source;
	h->hash = skb->hash;
	h->len_orig = skb->len;
	h->len_cap = cap_len(flags);
	h->version = version;
	h->ext_version = 0;
}

static __always_inline void reverse_key(struct conn_key *rev, struct conn_key *k)
{
	__builtin_memcpy(rev->saddr, k->daddr, 16);
	__builtin_memcpy(rev->daddr, k->saddr, 16);
	rev->sport = k->dport;
	rev->dport = k->sport;
	rev->proto = k->proto;
	rev->family = k->family;
	rev->hook = k->hook ^ 1;
	rev->pad = 0;
	rev->ifindex = k->ifindex;
}

static __always_inline int handle(struct __sk_buff *skb, __u8 hook)
{
	struct packet p = {};
	struct config *cfg;
	__u32 zero = 0;
	__u32 src_id, dst_id;
	__u16 src_ep, dst_ep;

	if (parse(skb, &p) < 0 || p.family == 0) {
		count(STAT_FORWARDED);
		return TC_ACT_OK;
	}
	cfg = bpf_map_lookup_elem(&config_map, &zero);
	__u32 aggregation = cfg ? cfg->aggregation : AGG_MEDIUM;
	__u64 flags = cap_flags(skb, cfg);

	lookup_identity(&p, p.saddr, &src_id, &src_ep);
	lookup_identity(&p, p.daddr, &dst_id, &dst_ep);

	/* The policy side: the source leaving through tc ingress, the destination arriving
	 * through tc egress. */
	__u8 dir = hook == 0 ? DIR_EGRESS : DIR_INGRESS;
	__u16 local_ep = hook == 0 ? src_ep : dst_ep;
	__u32 local_id = hook == 0 ? src_id : dst_id;
	__u32 remote_id = hook == 0 ? dst_id : src_id;
	__u8 obs = hook == 0 ? OBS_FROM_ENDPOINT : OBS_TO_ENDPOINT;
	__u8 v6 = p.family == 6 ? TRACE_FLAG_IPV6 : 0;

	struct conn_key k = {};
	__builtin_memcpy(k.saddr, p.saddr, 16);
	__builtin_memcpy(k.daddr, p.daddr, 16);
	k.sport = p.sport;
	k.dport = p.dport;
	k.proto = p.proto;
	k.family = p.family;
	k.hook = hook;
	k.ifindex = skb->ifindex;

	__u8 reason;
	__u8 report;
	__u8 closing = (p.tcp_flags & 0x05) != 0; /* FIN or RST */
	struct conn_value *cv = bpf_map_lookup_elem(&conns, &k);
	if (cv) {
		reason = TRACE_REASON_ESTABLISHED;
		__u8 grew = (cv->tcp_flags_seen | p.tcp_flags) != cv->tcp_flags_seen;
		cv->tcp_flags_seen |= p.tcp_flags;
		report = aggregation == AGG_NONE || closing ||
			 (aggregation == AGG_MEDIUM && grew);
	} else {
		struct conn_key rev = {};
		reverse_key(&rev, &k);
		struct conn_value *rv = bpf_map_lookup_elem(&conns, &rev);
		if (rv) {
			reason = TRACE_REASON_REPLY;
			/* Bit 0x80 marks "a reply was seen", so the first reply of a flagless
			 * protocol (UDP, ICMP) is reported too. */
			__u8 seen = p.tcp_flags | 0x80;
			__u8 grew = (rv->reply_flags_seen | seen) != rv->reply_flags_seen;
			rv->reply_flags_seen |= seen;
			report = aggregation == AGG_NONE || closing ||
				 (aggregation == AGG_MEDIUM && grew);
		} else {
			reason = TRACE_REASON_NEW;
			report = 1;
		}
	}

	if (reason == TRACE_REASON_NEW) {
		__u8 match = MATCH_NONE;
		__u32 cookie = 0;
		int verdict = VERDICT_NO_POLICY;
		if (local_ep)
			verdict = policy_lookup(local_id, remote_id, p.proto == IPPROTO_TCP ||
							p.proto == IPPROTO_UDP ? p.dport : 0,
						p.proto, dir, &match, &cookie);
		__u32 drop_reason = verdict == VERDICT_DENY ? DROP_POLICY_DENY :
				    verdict == VERDICT_DEFAULT_DENY ? DROP_POLICY_DENIED : 0;
		if (local_ep) {
			struct policy_verdict_notify pv = {};
			fill_hdr(&pv.hdr, CILIUM_NOTIFY_POLICY_VERDICT, 0, local_ep, skb, flags, 0);
			pv.remote_label = remote_id;
			pv.verdict = drop_reason ? -(__s32)drop_reason : 0;
			pv.dst_port = p.proto == IPPROTO_TCP || p.proto == IPPROTO_UDP ? p.dport : 0;
			pv.proto = p.proto;
			pv.flags = dir | (v6 ? 0x04 : 0) | ((match & 0x7) << 3) |
				   (verdict == VERDICT_AUDIT ? 0x40 : 0);
			pv.cookie = cookie;
			emit(skb, &pv, sizeof(pv), flags, cfg);
		}
		if (drop_reason) {
			struct drop_notify dn = {};
			fill_hdr(&dn.hdr, CILIUM_NOTIFY_DROP, drop_reason, local_ep, skb, flags, 3);
			dn.src_label = src_id;
			dn.dst_label = dst_id;
			dn.dst_id = dst_ep;
			dn.line = __LINE__;
			dn.file = BPF_FILE_FLOWSCOPE;
			dn.ifindex = skb->ifindex;
			dn.flags = v6;
			emit(skb, &dn, sizeof(dn), flags, cfg);
			count(STAT_DROPPED);
			count_drop(drop_reason);
			return TC_ACT_SHOT;
		}
		struct conn_value nv = { .tcp_flags_seen = p.tcp_flags };
		bpf_map_update_elem(&conns, &k, &nv, BPF_ANY);
	}

	struct trace_notify tn = {};
	fill_hdr(&tn.hdr, CILIUM_NOTIFY_TRACE, obs, local_ep, skb, flags, 1);
	tn.src_label = src_id;
	tn.dst_label = dst_id;
	tn.dst_id = dst_ep;
	tn.reason = reason;
	tn.flags = v6;
	tn.ifindex = skb->ifindex;
	if (report)
		emit(skb, &tn, sizeof(tn), flags, cfg);
	/* After the trace: emit_dns turns the header into the DNS capture's. */
	if (cfg && cfg->dns_cap_len && (p.proto == IPPROTO_UDP || p.proto == IPPROTO_TCP) &&
	    (p.sport == 53 || p.dport == 53))
		emit_dns(skb, &tn, cfg);
	count(STAT_FORWARDED);
	return TC_ACT_OK;
}

SEC("classifier")
int from_endpoint(struct __sk_buff *skb)
{
	return handle(skb, 0);
}

SEC("classifier")
int to_endpoint(struct __sk_buff *skb)
{
	return handle(skb, 1);
}

char _license[] SEC("license") = "Dual BSD/GPL";

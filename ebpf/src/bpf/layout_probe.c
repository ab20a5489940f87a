/* Prints the size and field offsets of every shared struct (generated list; see build.rs). */
#include <stddef.h>
#include <stdio.h>
#include "flowscope.h"

int main(void)
{
	printf("ipcache4_key %zu\n", sizeof(struct ipcache4_key));
	printf("ipcache4_key.prefixlen %zu\n", offsetof(struct ipcache4_key, prefixlen));
	printf("ipcache4_key.addr %zu\n", offsetof(struct ipcache4_key, addr));
	printf("ipcache6_key %zu\n", sizeof(struct ipcache6_key));
	printf("ipcache6_key.prefixlen %zu\n", offsetof(struct ipcache6_key, prefixlen));
	printf("ipcache6_key.addr %zu\n", offsetof(struct ipcache6_key, addr));
	printf("ipcache_value %zu\n", sizeof(struct ipcache_value));
	printf("ipcache_value.identity %zu\n", offsetof(struct ipcache_value, identity));
	printf("ipcache_value.endpoint_id %zu\n", offsetof(struct ipcache_value, endpoint_id));
	printf("policy_key %zu\n", sizeof(struct policy_key));
	printf("policy_key.local_identity %zu\n", offsetof(struct policy_key, local_identity));
	printf("policy_key.remote_identity %zu\n", offsetof(struct policy_key, remote_identity));
	printf("policy_key.dport %zu\n", offsetof(struct policy_key, dport));
	printf("policy_key.proto %zu\n", offsetof(struct policy_key, proto));
	printf("policy_key.direction %zu\n", offsetof(struct policy_key, direction));
	printf("policy_value %zu\n", sizeof(struct policy_value));
	printf("policy_value.action %zu\n", offsetof(struct policy_value, action));
	printf("policy_value.cookie %zu\n", offsetof(struct policy_value, cookie));
	printf("enforce_key %zu\n", sizeof(struct enforce_key));
	printf("enforce_key.identity %zu\n", offsetof(struct enforce_key, identity));
	printf("enforce_key.direction %zu\n", offsetof(struct enforce_key, direction));
	printf("conn_key %zu\n", sizeof(struct conn_key));
	printf("conn_key.saddr %zu\n", offsetof(struct conn_key, saddr));
	printf("conn_key.daddr %zu\n", offsetof(struct conn_key, daddr));
	printf("conn_key.sport %zu\n", offsetof(struct conn_key, sport));
	printf("conn_key.dport %zu\n", offsetof(struct conn_key, dport));
	printf("conn_key.proto %zu\n", offsetof(struct conn_key, proto));
	printf("conn_key.family %zu\n", offsetof(struct conn_key, family));
	printf("conn_key.hook %zu\n", offsetof(struct conn_key, hook));
	printf("conn_key.ifindex %zu\n", offsetof(struct conn_key, ifindex));
	printf("conn_value %zu\n", sizeof(struct conn_value));
	printf("conn_value.tcp_flags_seen %zu\n", offsetof(struct conn_value, tcp_flags_seen));
	printf("conn_value.reply_flags_seen %zu\n", offsetof(struct conn_value, reply_flags_seen));
	printf("config %zu\n", sizeof(struct config));
	printf("config.aggregation %zu\n", offsetof(struct config, aggregation));
	printf("config.cap_len %zu\n", offsetof(struct config, cap_len));
	printf("config.transport %zu\n", offsetof(struct config, transport));
	printf("config.wakeup_bytes %zu\n", offsetof(struct config, wakeup_bytes));
	printf("config.dns_cap_len %zu\n", offsetof(struct config, dns_cap_len));
	printf("rb_event %zu\n", sizeof(struct rb_event));
	printf("rb_event.data %zu\n", offsetof(struct rb_event, data));
	printf("notify_hdr %zu\n", sizeof(struct notify_hdr));
	printf("notify_hdr.type %zu\n", offsetof(struct notify_hdr, type));
	printf("notify_hdr.subtype %zu\n", offsetof(struct notify_hdr, subtype));
	printf("notify_hdr.source %zu\n", offsetof(struct notify_hdr, source));
	printf("notify_hdr.hash %zu\n", offsetof(struct notify_hdr, hash));
	printf("notify_hdr.len_orig %zu\n", offsetof(struct notify_hdr, len_orig));
	printf("notify_hdr.len_cap %zu\n", offsetof(struct notify_hdr, len_cap));
	printf("notify_hdr.version %zu\n", offsetof(struct notify_hdr, version));
	printf("notify_hdr.ext_version %zu\n", offsetof(struct notify_hdr, ext_version));
	printf("trace_notify %zu\n", sizeof(struct trace_notify));
	printf("trace_notify.src_label %zu\n", offsetof(struct trace_notify, src_label));
	printf("trace_notify.dst_label %zu\n", offsetof(struct trace_notify, dst_label));
	printf("trace_notify.dst_id %zu\n", offsetof(struct trace_notify, dst_id));
	printf("trace_notify.reason %zu\n", offsetof(struct trace_notify, reason));
	printf("trace_notify.flags %zu\n", offsetof(struct trace_notify, flags));
	printf("trace_notify.ifindex %zu\n", offsetof(struct trace_notify, ifindex));
	printf("trace_notify.orig_ip %zu\n", offsetof(struct trace_notify, orig_ip));
	printf("drop_notify %zu\n", sizeof(struct drop_notify));
	printf("drop_notify.src_label %zu\n", offsetof(struct drop_notify, src_label));
	printf("drop_notify.dst_label %zu\n", offsetof(struct drop_notify, dst_label));
	printf("drop_notify.dst_id %zu\n", offsetof(struct drop_notify, dst_id));
	printf("drop_notify.line %zu\n", offsetof(struct drop_notify, line));
	printf("drop_notify.file %zu\n", offsetof(struct drop_notify, file));
	printf("drop_notify.ext_error %zu\n", offsetof(struct drop_notify, ext_error));
	printf("drop_notify.ifindex %zu\n", offsetof(struct drop_notify, ifindex));
	printf("drop_notify.flags %zu\n", offsetof(struct drop_notify, flags));
	printf("drop_notify.ip_trace_id %zu\n", offsetof(struct drop_notify, ip_trace_id));
	printf("policy_verdict_notify %zu\n", sizeof(struct policy_verdict_notify));
	printf("policy_verdict_notify.remote_label %zu\n", offsetof(struct policy_verdict_notify, remote_label));
	printf("policy_verdict_notify.verdict %zu\n", offsetof(struct policy_verdict_notify, verdict));
	printf("policy_verdict_notify.dst_port %zu\n", offsetof(struct policy_verdict_notify, dst_port));
	printf("policy_verdict_notify.proto %zu\n", offsetof(struct policy_verdict_notify, proto));
	printf("policy_verdict_notify.flags %zu\n", offsetof(struct policy_verdict_notify, flags));
	printf("policy_verdict_notify.auth_type %zu\n", offsetof(struct policy_verdict_notify, auth_type));
	printf("policy_verdict_notify.cookie %zu\n", offsetof(struct policy_verdict_notify, cookie));
	return 0;
}

#!/usr/bin/env bash
# The Flowscope lab: a small cluster in network namespaces with real traffic, observed live.
#
#   router   10.99.0.2 (and 10.99.0.100): a client outside the cluster (world), and the
#            DNS server (dnsmasq on 10.99.0.100) the pods resolve lab.example names with
#   node     the node: routes between everything; flowd attached with eBPF to the pods'
#            host-side veths; l7proxy on 10.99.0.1:80 is the node's ingress proxy
#   productpage 10.99.1.2   details 10.99.2.2   client 10.99.3.2   (pods)
#
# Policy reproduces the seed scenario: world reaches productpage only from 10.99.0.0/28,
# pods are default-deny with DNS allowed, client -> details is explicitly denied, and the
# ingress proxy denies /details/* (an http-request DROPPED flow and a 403).
#
# With --nodes N (2 to 9), the lab is a cluster of N nodes instead: see scripts/lab-nodes.sh.
#
# Usage: scripts/lab.sh [--nodes N] [--rounds N] [--check | --setup-only] [--no-build]
#   --check       drive the traffic once, verify the flows, exit (run by the test suite)
#   --setup-only  (with --nodes) build the namespaces and pods, print them, and keep them
#                 until standard input closes (the multi-node tests drive their own nodes)
#   --no-build    run the binaries already in target/debug (the test suite builds them first)
# Ctrl-C tears everything down: namespaces (and their veths), processes.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=30
check=0
nodes=1
setup_only=0
build=1
usage="usage: $0 [--nodes N] [--rounds N] [--check | --setup-only] [--no-build]"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --check) check=1; shift ;;
    --setup-only) setup_only=1; build=0; shift ;;
    --no-build) build=0; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
[[ "$nodes" =~ ^[1-9]$ ]] || { echo "lab: --nodes wants 1 to 9" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "lab: --rounds wants a positive number" >&2; exit 2; }
if [ "$setup_only" = 1 ] && { [ "$nodes" = 1 ] || [ "$check" = 1 ]; }; then
  echo "lab: --setup-only goes with --nodes N (N >= 2) and without --check" >&2; exit 2
fi
[ "$(id -u)" = 0 ] || { echo "lab: needs root (network namespaces, eBPF)" >&2; exit 1; }

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v clang >/dev/null || need+=(clang)
command -v ping >/dev/null || need+=(iputils-ping)
command -v cc >/dev/null || need+=(build-essential)
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
if [ "$build" = 1 ]; then
  command -v cargo >/dev/null || { echo "lab: cargo not found: install Rust with rustup" >&2; exit 1; }
  cargo build --workspace --bins --locked -q
fi
bin=$(pwd)/target/debug
if [ "$setup_only" = 0 ] && [ ! -x "$bin/flowd" ]; then
  echo "lab: $bin/flowd not found: build it (cargo build --workspace --bins)" >&2; exit 1
fi

tag="fl$$"
all_ns=()
work=$(mktemp -d /tmp/flowscope-lab.XXXXXX)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for n in "${all_ns[@]}"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$work"
  [ -z "${ns_client:-}" ] || rm -rf "/etc/netns/$ns_client"
  rmdir /etc/netns 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# new_ns NAME: a namespace with its loopback up, deleted on exit.
new_ns() {
  all_ns+=("$1")
  ip netns add "$1"
  ip -n "$1" link set lo up
}
# link NS IFNAME ADDR PEER_NS PEER_IFNAME [PEER_ADDR]: a veth pair between two namespaces.
link() {
  ip link add "${tag}x" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" link set "${tag}x" name "$2"
  ip -n "$1" addr add "$3" dev "$2"
  [ -z "${6:-}" ] || ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}
# Background processes are started with `ip netns exec` directly (it execs the program),
# so $! is the program's own pid and cleanup ends exactly what this script started.
run_in() { ns=$1; shift; ip netns exec "$ns" "$@"; }

if [ "$nodes" -gt 1 ]; then
  # shellcheck source=lab-nodes.sh
  . scripts/lab-nodes.sh
  exit 0
fi

ns_router="${tag}-router"; ns_node="${tag}-node"
ns_pp="${tag}-productpage"; ns_details="${tag}-details"; ns_client="${tag}-client"
for n in "$ns_router" "$ns_node" "$ns_pp" "$ns_details" "$ns_client"; do new_ns "$n"; done
link "$ns_router" eth0 10.99.0.2/24 "$ns_node" ext0 10.99.0.1/24
ip -n "$ns_router" addr add 10.99.0.100/24 dev eth0
link "$ns_pp" eth0 10.99.1.2/24 "$ns_node" lxc-productpage 10.99.1.1/24
link "$ns_details" eth0 10.99.2.2/24 "$ns_node" lxc-details 10.99.2.1/24
link "$ns_client" eth0 10.99.3.2/24 "$ns_node" lxc-client 10.99.3.1/24
ip -n "$ns_router" route add 10.99.0.0/16 via 10.99.0.1
for n in 1:"$ns_pp" 2:"$ns_details" 3:"$ns_client"; do
  ip -n "${n#*:}" route add default via "10.99.${n%%:*}.1"
done
ip netns exec "$ns_node" sysctl -qw net.ipv4.ip_forward=1

cat > "$work/state.yaml" <<'STATE'
node_name: lab-node
cluster_name: default
endpoints:
  # The node's proxy addresses carry the reserved ingress identity.
  - name: ""
    labels: ["reserved:ingress"]
    ips: [10.99.0.1, 10.99.1.1, 10.99.2.1, 10.99.3.1]
    identity: 8
  - name: productpage-v1-6b746f74dc-9stvq
    namespace: default
    labels: {app: productpage, version: v1}
    ips: [10.99.1.2]
    endpoint_id: 1001
    workload: productpage-v1
  - name: details-v1-79f774bdb9-x2x4k
    namespace: default
    labels: {app: details, version: v1}
    ips: [10.99.2.2]
    endpoint_id: 1002
    workload: details-v1
  - name: client-6d4b9c7f5-abcde
    namespace: default
    labels: {app: client}
    ips: [10.99.3.2]
    endpoint_id: 1003
    workload: client
STATE
cat > "$work/policy.yaml" <<'POLICY'
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: productpage, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: productpage}}
  ingress:
    - fromEntities: [ingress]
      toPorts: [{ports: [{port: "9080", protocol: TCP}]}]
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts: [{ports: [{port: "9080", protocol: TCP}]}]
    - fromCIDR: [10.99.0.0/28]
      toPorts: [{ports: [{port: "9080", protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: details, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: details}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: productpage}}]
      toPorts: [{ports: [{port: "9080", protocol: TCP}]}]
  ingressDeny:
    - fromEndpoints: [{matchLabels: {app: client}}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: default-deny-with-dns, namespace: default}
spec:
  endpointSelector: {}
  egress:
    - toPorts: [{ports: [{port: "53", protocol: UDP}]}]
    - toEndpoints: [{matchLabels: {app: productpage}}]
      toPorts: [{ports: [{port: "9080", protocol: TCP}]}]
    - toEndpoints: [{matchLabels: {app: details}}]
      toPorts: [{ports: [{port: "9080", protocol: TCP}]}]
POLICY
mkdir -p "$work/www/details"
echo '<html>productpage</html>' > "$work/www/productpage"
echo '{"id":1}' > "$work/www/details/1"

ip netns exec "$ns_node" "$bin/flowd" --state "$work/state.yaml" --policy "$work/policy.yaml" \
  --interface lxc-productpage --interface lxc-details --interface lxc-client \
  --listen-address "" --metrics-address 127.0.0.1:9965 --unix-socket "$work/hubble.sock" \
  --metrics 'dns,drop,tcp,flow,port-distribution,icmp,httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,destination_ip,destination_namespace,destination_workload,traffic_direction' \
  --access-log-socket "$work/access_log.sock" >/dev/null 2>"$work/flowd.log" &
pids+=($!)
for ns in "$ns_pp" "$ns_details"; do
  ip netns exec "$ns" python3 -m http.server 9080 --directory "$work/www" >/dev/null 2>&1 &
  pids+=($!)
done
ip netns exec "$ns_router" /usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts \
  --bind-interfaces --listen-address=10.99.0.100 --user=root --pid-file= --local=/lab.example/ \
  --local-ttl=30 --host-record=productpage.lab.example,10.99.1.2 \
  --host-record=details.lab.example,10.99.2.2 --cname=www.lab.example,productpage.lab.example \
  >/dev/null 2>&1 &
pids+=($!)
# `ip netns exec` puts /etc/netns/<ns>/resolv.conf in place of /etc/resolv.conf.
mkdir -p "/etc/netns/$ns_client"
printf 'nameserver 10.99.0.100\noptions attempts:2 timeout:1\n' >"/etc/netns/$ns_client/resolv.conf"
for _ in $(seq 100); do [ -S "$work/access_log.sock" ] && [ -S "$work/hubble.sock" ] && break; sleep 0.1; done
if [ ! -S "$work/hubble.sock" ]; then cat "$work/flowd.log" >&2; exit 1; fi
ip netns exec "$ns_node" "$bin/l7proxy" --listen 10.99.0.1:80 --upstream 10.99.1.2:9080 \
  --access-log "$work/access_log.sock" --deny-path /details >/dev/null 2>"$work/proxy.log" &
pids+=($!)
for ns in "$ns_pp" "$ns_details"; do
  for _ in $(seq 100); do
    run_in "$ns" python3 -c 'import socket; socket.create_connection(("127.0.0.1",9080),1)' 2>/dev/null && break
    sleep 0.1
  done
done

server="unix://$work/hubble.sock"
get() { run_in "$1" curl -s -o /dev/null --max-time "${3:-2}" "${@:4}" "$2" || true; }
traffic() {
  for i in $(seq "$rounds"); do
    get "$ns_router" http://10.99.0.1/productpage 2 -H "X-Request-Id: lab-$i-pp"
    get "$ns_router" http://10.99.0.1/details/1 2 -H "X-Request-Id: lab-$i-details"
    get "$ns_router" http://10.99.1.2:9080/productpage 2 --interface 10.99.0.2
    get "$ns_router" http://10.99.1.2:9080/productpage 1 --interface 10.99.0.100
    get "$ns_client" http://10.99.1.2:9080/productpage 2
    get "$ns_client" http://10.99.2.2:9080/details/1 1
    run_in "$ns_client" getent ahostsv4 www.lab.example >/dev/null || true
    [ "$check" = 1 ] || sleep 1
  done
}

if [ "$check" = 1 ]; then
  traffic
  sleep 0.5
  out=$("$bin/flowctl" observe --all --server "$server")
  echo "$out"
  count() { grep -cE "$1" <<<"$out" || true; }
  l7_dropped=$(count 'http-request DROPPED \(HTTP/1.1 GET http://10.99.0.1/details/1\)')
  to_pod=$(count '\(ingress\) -> default/productpage-v1-6b746f74dc-9stvq:9080 \(ID:[0-9]+\) http-request FORWARDED')
  cidr_drop=$(count '10.99.0.100:[0-9]+ \(world\) <> default/productpage-v1-6b746f74dc-9stvq:9080 \(ID:[0-9]+\) Policy denied DROPPED')
  deny_drop=$(count 'default/client-6d4b9c7f5-abcde:[0-9]+ \(ID:[0-9]+\) <> default/details-v1-79f774bdb9-x2x4k:9080 \(ID:[0-9]+\) Policy denied by denylist DROPPED')
  cidr_ok=$(count '10.99.0.2:[0-9]+ \(ID:16777217\) -> default/productpage-v1-6b746f74dc-9stvq:9080 \(ID:[0-9]+\) policy-verdict:L3-L4 INGRESS ALLOWED')
  dns=$(count 'default/client-6d4b9c7f5-abcde:[0-9]+ \(ID:[0-9]+\) -> 10.99.0.100:53 \(world\) policy-verdict:L4-Only EGRESS ALLOWED \(UDP\)')
  dns_query=$(count 'default/client-6d4b9c7f5-abcde:[0-9]+ \(ID:[0-9]+\) -> 10.99.0.100:53 \(world\) dns-request datapath FORWARDED \(DNS Query www.lab.example. A\)')
  dns_answer=$(count 'default/client-6d4b9c7f5-abcde:[0-9]+ \(ID:[0-9]+\) <- 10.99.0.100:53 \(world\) dns-response datapath FORWARDED \(DNS Answer "10.99.1.2" CNAMEs: "productpage.lab.example." TTL: 30 \(Query www.lab.example. A\)\)')
  dns_metric=$(ip netns exec "$ns_node" curl -s http://127.0.0.1:9965/metrics |
    grep -cE '^hubble_dns_responses_total\{.*rcode="No Error"' || true)
  echo "lab metrics: hubble_dns_responses_total series=$dns_metric (want >= 1)"
  [ "$dns_metric" -ge 1 ] || exit 1
  echo "lab check: l7_dropped=$l7_dropped to_pod=$to_pod cidr_ok=$cidr_ok cidr_drop=$cidr_drop deny_drop=$deny_drop dns=$dns dns_query=$dns_query dns_answer=$dns_answer (want >= $rounds each)"
  for v in "$l7_dropped" "$to_pod" "$cidr_ok" "$cidr_drop" "$deny_drop" "$dns" "$dns_query" "$dns_answer"; do
    [ "$v" -ge "$rounds" ] || exit 1
  done
  exit 0
fi

echo "flowd: $server"
echo "  try: $bin/flowctl observe --server $server --verdict DROPPED"
echo "       $bin/flowctl observe --server $server --protocol dns"
echo "  metrics (Cilium's documented list): ip netns exec $ns_node curl -s http://127.0.0.1:9965/metrics"
echo "Sending $rounds rounds of traffic; Ctrl-C to stop and clean up."
traffic &
pids+=($!)
"$bin/flowctl" observe -f --server "$server"

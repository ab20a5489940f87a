#!/usr/bin/env bash
# The Flowscope lab: real HTTP traffic between network namespaces through an access-logging
# ingress proxy, observed live by flowd.
#
#   router (10.99.0.2, outside the cluster: world)
#      -> fs-node: l7proxy on 10.99.0.1:80 (the node's ingress proxy: identity ingress)
#      -> productpage pod (10.99.1.2:9080)
#
# /details/* is denied by the ingress policy (an http-request DROPPED flow and a 403).
# Usage: scripts/lab.sh [--rounds N] [--check]
#   --check  run the traffic, verify the flows, exit (used by the test suite)
# Ctrl-C tears everything down: namespaces, veths, processes.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=30
check=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --check) check=1; shift ;;
    *) echo "usage: $0 [--rounds N] [--check]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "lab: needs root (network namespaces)" >&2; exit 1; }

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v cc >/dev/null || need+=(build-essential)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi
command -v cargo >/dev/null || { echo "lab: cargo not found: install Rust with rustup" >&2; exit 1; }
cargo build --workspace --bins --locked -q
bin=target/debug

tag="fs$$"
ns_router="${tag}-router"; ns_node="${tag}-node"; ns_pod="${tag}-pp"
work=$(mktemp -d /tmp/flowscope-lab.XXXXXX)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for n in "$ns_router" "$ns_node" "$ns_pod"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for n in "$ns_router" "$ns_node" "$ns_pod"; do
  ip netns add "$n"
  ip -n "$n" link set lo up
done
ip link add "${tag}r0" netns "$ns_router" type veth peer name n0 netns "$ns_node"
ip link add "${tag}p0" netns "$ns_pod" type veth peer name n1 netns "$ns_node"
ip -n "$ns_router" link set "${tag}r0" name eth0
ip -n "$ns_pod" link set "${tag}p0" name eth0
ip -n "$ns_router" addr add 10.99.0.2/24 dev eth0
ip -n "$ns_node" addr add 10.99.0.1/24 dev n0
ip -n "$ns_node" addr add 10.99.1.1/24 dev n1
ip -n "$ns_pod" addr add 10.99.1.2/24 dev eth0
for pair in "$ns_router eth0" "$ns_node n0" "$ns_node n1" "$ns_pod eth0"; do
  set -- $pair; ip -n "$1" link set "$2" up
done
ip -n "$ns_pod" route add default via 10.99.1.1

cat > "$work/state.yaml" <<STATE
node_name: lab-node
cluster_name: default
endpoints:
  - name: productpage-v1-6b746f74dc-9stvq
    namespace: default
    labels: {app: productpage, version: v1}
    ips: [10.99.1.2]
    endpoint_id: 1234
    workload: productpage-v1
STATE
mkdir -p "$work/www/details"
echo '<html>productpage</html>' > "$work/www/productpage"
echo '{"id":1}' > "$work/www/details/1"

grpc_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin/flowd" --state "$work/state.yaml" --listen-address "127.0.0.1:$grpc_port" \
  --unix-socket "" --metrics-address "127.0.0.1:$metrics_port" \
  --access-log-socket "$work/access_log.sock" 2>"$work/flowd.log" &
pids+=($!)
ip netns exec "$ns_pod" python3 -m http.server 9080 --bind 10.99.1.2 --directory "$work/www" \
  >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$work/access_log.sock" ] && break; sleep 0.1; done
ip netns exec "$ns_node" "$bin/l7proxy" --listen 10.99.0.1:80 --upstream 10.99.1.2:9080 \
  --access-log "$work/access_log.sock" --deny-path /details 2>"$work/proxy.log" &
pids+=($!)
for _ in $(seq 100); do
  ip netns exec "$ns_pod" python3 -c 'import socket; socket.create_connection(("10.99.1.2",9080),1)' 2>/dev/null && break
  sleep 0.1
done

server="127.0.0.1:$grpc_port"
traffic() {
  for i in $(seq "$rounds"); do
    ip netns exec "$ns_router" curl -s -o /dev/null --max-time 2 \
      -H "X-Request-Id: lab-$i-pp" http://10.99.0.1/productpage || true
    ip netns exec "$ns_router" curl -s -o /dev/null --max-time 2 \
      -H "X-Request-Id: lab-$i-details" http://10.99.0.1/details/1 || true
    [ "$check" = 1 ] || sleep 1
  done
}

if [ "$check" = 1 ]; then
  traffic
  sleep 0.5
  out=$("$bin/flowctl" observe --all --server "$server")
  echo "$out"
  dropped=$(grep -c 'http-request DROPPED (HTTP/1.1 GET http://10.99.0.1/details/1)' <<<"$out" || true)
  to_pod=$(grep -c '(ingress) -> default/productpage-v1-6b746f74dc-9stvq:9080 (ID:[0-9]*) http-request FORWARDED' <<<"$out" || true)
  from_world=$(grep -c '^.*10.99.0.2:[0-9]* (world) -> 10.99.0.1:80 (ingress) http-request FORWARDED' <<<"$out" || true)
  echo "lab check: dropped=$dropped to_pod=$to_pod from_world=$from_world (want $rounds each)"
  [ "$dropped" = "$rounds" ] && [ "$to_pod" = "$rounds" ] && [ "$from_world" = "$rounds" ]
  exit $?
fi

echo "flowd: $server (try: $bin/flowctl observe --server $server --verdict DROPPED)"
echo "Sending $rounds rounds of traffic; Ctrl-C to stop and clean up."
traffic &
pids+=($!)
"$bin/flowctl" observe -f --server "$server"

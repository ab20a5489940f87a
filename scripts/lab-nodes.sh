# The multi-node lab, sourced by lab.sh for `--nodes N`: N nodes in network namespaces, each
# routing for its own pods, joined by an underlay; flowd on every node, flowrelay over them.
#
#   ctl      the underlay switch (bridge br0, 10.98.0.100/24) and the control host: flowrelay
#            listens on 10.98.0.100:4245 there, and flowctl / flowtop run there
#   n<i>     node i (lab-node-<i>), 10.98.0.<i> on the underlay: routes for its pods and to
#            the other nodes' pods; flowd attached with eBPF to its pods' host-side veths,
#            Observer API and Peer service on 10.98.0.<i>:4244 (node 1 announces the others)
#   pods     web-<i> 10.98.<i>1.2 (HTTP on 9080, a UDP sink on 9090), client-<i> 10.98.<i>2.2
#
# Every round, each node's client talks to its own web pod, to the next node's (HTTP) and
# pings the one after: cross-node traffic is seen by both nodes' flowd.
# Uses lab.sh's variables (nodes, rounds, check, setup_only, bin, tag, work, pids) and helpers.

ns_ctl="${tag}-ctl"
relay="10.98.0.100:4245"
# IPv4 only: no IPv6 neighbour discovery trickling in, so a quiet cluster has no new flows.
new_ns4() {
  new_ns "$1"
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}
node_ns() { echo "${tag}-n$1"; }
pod_ns() { echo "${tag}-n$1-$2"; }
pod_ip() { case "$2" in web) echo "10.98.${1}1.2" ;; client) echo "10.98.${1}2.2" ;; esac; }

new_ns4 "$ns_ctl"
ip -n "$ns_ctl" link add br0 type bridge
ip -n "$ns_ctl" addr add 10.98.0.100/24 dev br0
ip -n "$ns_ctl" link set br0 up
for i in $(seq "$nodes"); do
  n=$(node_ns "$i")
  new_ns4 "$n"
  link "$n" eth0 "10.98.0.$i/24" "$ns_ctl" "n$i"
  ip -n "$ns_ctl" link set "n$i" master br0
  for k in 1:web 2:client; do
    pod=${k#*:}
    new_ns4 "$(pod_ns "$i" "$pod")"
    link "$(pod_ns "$i" "$pod")" eth0 "10.98.$i${k%%:*}.2/24" "$n" "lxc-$pod" "10.98.$i${k%%:*}.1/24"
    ip -n "$(pod_ns "$i" "$pod")" route add default via "10.98.$i${k%%:*}.1"
  done
  ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
done
for i in $(seq "$nodes"); do
  for j in $(seq "$nodes"); do
    [ "$i" = "$j" ] && continue
    for k in 1 2; do ip -n "$(node_ns "$i")" route add "10.98.$j$k.0/24" via "10.98.0.$j"; done
  done
done
for j in $(seq "$nodes"); do
  for k in 1 2; do ip -n "$ns_ctl" route add "10.98.$j$k.0/24" via "10.98.0.$j"; done
done

# One state file per node: its own pods are local endpoints, the other nodes' remote ones.
for i in $(seq "$nodes"); do
  {
    echo "node_name: lab-node-$i"
    echo "cluster_name: default"
    echo "endpoints:"
    echo "  - {name: \"\", labels: [\"reserved:host\"], ips: [10.98.0.$i, 10.98.${i}1.1, 10.98.${i}2.1], identity: 1}"
    for j in $(seq "$nodes"); do
      [ "$i" = "$j" ] || echo "  - {name: \"\", labels: [\"reserved:remote-node\"], ips: [10.98.0.$j], identity: 6}"
      for k in 1:web:25001 2:client:25002; do
        pod=${k#*:}; pod=${pod%:*}
        echo "  - name: $pod-$j"
        echo "    namespace: default"
        echo "    labels: {app: $pod}"
        echo "    ips: [$(pod_ip "$j" "$pod")]"
        echo "    identity: ${k##*:}"
        if [ "$i" = "$j" ]; then
          echo "    endpoint_id: $((100 * j + ${k%%:*}))"
          echo "    workload: $pod"
        fi
      done
    done
  } >"$work/node-$i.yaml"
done

mkdir -p "$work/www"
echo '<html>web</html>' >"$work/www/index.html"
web_server='
import functools, http.server, socket, sys, threading
def sink():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 9090))
    while True:
        s.recv(2048)
threading.Thread(target=sink, daemon=True).start()
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
http.server.ThreadingHTTPServer(("0.0.0.0", 9080), handler).serve_forever()
'
for i in $(seq "$nodes"); do
  ip netns exec "$(pod_ns "$i" web)" python3 -c "$web_server" "$work/www" >/dev/null 2>&1 &
  pids+=($!)
done
for i in $(seq "$nodes"); do
  for _ in $(seq 100); do
    run_in "$(pod_ns "$i" web)" python3 -c \
      'import socket; socket.create_connection(("127.0.0.1",9080),1)' 2>/dev/null && break
    sleep 0.1
  done
done

if [ "$setup_only" = 1 ]; then
  # What the tests need, one fact a line, then hold until standard input closes.
  echo "control $ns_ctl 10.98.0.100"
  for i in $(seq "$nodes"); do
    echo "node $i $(node_ns "$i") 10.98.0.$i lab-node-$i $work/node-$i.yaml"
    for pod in web client; do echo "pod $i $pod $(pod_ns "$i" "$pod") $(pod_ip "$i" "$pod")"; done
  done
  echo "ready"
  read -r _ || true
  exit 0
fi

for i in $(seq "$nodes"); do
  peers=()
  if [ "$i" = 1 ]; then
    for j in $(seq 2 "$nodes"); do peers+=(--peer "lab-node-$j=10.98.0.$j:4244"); done
  fi
  mkdir -p "$work/n$i"
  ip netns exec "$(node_ns "$i")" "$bin/flowd" --state "$work/node-$i.yaml" \
    --interface lxc-web --interface lxc-client --listen-address "10.98.0.$i:4244" \
    --metrics-address 127.0.0.1:9965 --unix-socket "$work/n$i/hubble.sock" \
    --access-log-socket "$work/n$i/access_log.sock" "${peers[@]}" \
    >/dev/null 2>"$work/flowd-$i.log" &
  pids+=($!)
done
for i in $(seq "$nodes"); do
  for _ in $(seq 200); do [ -S "$work/n$i/hubble.sock" ] && break; sleep 0.1; done
  if [ ! -S "$work/n$i/hubble.sock" ]; then cat "$work/flowd-$i.log" >&2; exit 1; fi
done
ip netns exec "$ns_ctl" "$bin/flowrelay" --peer-service 10.98.0.1:4244 --listen-address "$relay" \
  >/dev/null 2>"$work/flowrelay.log" &
pids+=($!)
connected=0
for _ in $(seq 150); do
  connected=$(run_in "$ns_ctl" "$bin/flowctl" list nodes --server "$relay" 2>/dev/null |
    grep -c ' Connected ' || true)
  [ "$connected" = "$nodes" ] && break
  sleep 0.2
done
if [ "$connected" != "$nodes" ]; then
  echo "lab: flowrelay connected $connected of $nodes nodes" >&2
  cat "$work/flowrelay.log" >&2
  exit 1
fi

get() { run_in "$1" curl -s -o /dev/null --max-time 2 "$2" || true; }
traffic() {
  for r in $(seq "$rounds"); do
    for i in $(seq "$nodes"); do
      next=$((i % nodes + 1)); after=$((next % nodes + 1))
      get "$(pod_ns "$i" client)" "http://$(pod_ip "$i" web):9080/"
      get "$(pod_ns "$i" client)" "http://$(pod_ip "$next" web):9080/?round=$r"
      run_in "$(pod_ns "$i" client)" ping -c 1 -W 1 "$(pod_ip "$after" web)" >/dev/null || true
    done
    [ "$check" = 1 ] || sleep 1
  done
}

if [ "$check" = 1 ]; then
  traffic
  # Every node's flows through the relay, counted per node; cross-node HTTP (client-i to
  # web-(i+1), SYN to port 9080) must be seen by both nodes.
  counts() {
    run_in "$ns_ctl" "$bin/flowctl" observe --all -o jsonpb --server "$relay" | python3 -c '
import collections, json, sys
node_of = lambda ip: ip.split(".")[2][:-1]  # 10.98.<node><pod>.2
nodes, cross = collections.Counter(), set()
for line in sys.stdin:
    f = json.loads(line).get("flow")
    if not f:
        continue
    nodes[f["node_name"]] += 1
    src, dst = f.get("IP", {}).get("source", ""), f.get("IP", {}).get("destination", "")
    tcp = f.get("l4", {}).get("TCP", {})
    syn = tcp.get("flags", {}).get("SYN") and not tcp["flags"].get("ACK")
    if syn and tcp.get("destination_port") == 9080 and node_of(src) != node_of(dst):
        cross.add((src, f["node_name"]))
print(" ".join(f"{n}={nodes[n]}" for n in sorted(nodes)), end=" ")
sides = collections.Counter(src for src, _ in cross)
print(" ".join(f"cross:{s}={sides[s]}" for s in sorted(sides)))
'
  }
  line=""
  for _ in $(seq 50); do
    line=$(counts)
    ok=1
    for i in $(seq "$nodes"); do
      n=$(grep -oE "lab-node-$i=[0-9]+" <<<"$line" | cut -d= -f2)
      [ "${n:-0}" -ge "$rounds" ] || ok=0
      c=$(grep -oE "cross:$(pod_ip "$i" client)=[0-9]+" <<<"$line" | cut -d= -f2)
      [ "${c:-0}" -ge 2 ] || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.2
  done
  run_in "$ns_ctl" "$bin/flowctl" list nodes --server "$relay"
  echo "lab check: nodes=$nodes connected=$connected $line (want every node >= $rounds flows, every client's cross-node SYN seen by 2 nodes)"
  [ "$ok" = 1 ] || exit 1
  exit 0
fi

echo "flowrelay: $relay (in namespace $ns_ctl), over nodes lab-node-1..lab-node-$nodes"
echo "  try: ip netns exec $ns_ctl $bin/flowctl observe --server $relay --node-name lab-node-2"
echo "       ip netns exec $ns_ctl $bin/flowctl list nodes --server $relay"
echo "Sending $rounds rounds of traffic; flowtop shows them through the relay (q quits and cleans up)."
sleep 2
traffic >/dev/null 2>&1 &
pids+=($!)
run_in "$ns_ctl" "$bin/flowtop" --server "$relay"

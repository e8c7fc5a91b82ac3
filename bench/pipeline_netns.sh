#!/usr/bin/env bash
# The network's share of a pipeline's time per token: 2 ranks in two network namespaces joined by a bridge, each
# link limited to RATE (default 1 Gbit/s; tc tbf, both directions), MPI over TCP between them, against the same 2 ranks on
# shared memory; rounds interleaved. Needs root (ip netns, tc). mpirun starts one daemon per "host" through a
# stand-in for ssh that enters the host's namespace.
#   bench/pipeline_netns.sh MODEL.gguf [PROMPT_TOKENS] [GEN_TOKENS] [ROUNDS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 p=${2:-64} n=${3:-32} rounds=${4:-2} rate=${5:-1gbit} burst=${6:-16kb}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
tmp=""
cleanup() {
  for i in 0 1; do ip netns del hearth-n$i 2>/dev/null || true; ip link del hearth-p$i 2>/dev/null || true; done
  ip link del hearth-br 2>/dev/null || true
  [ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
cleanup; tmp=$(mktemp -d)
ip link add hearth-br type bridge
ip addr add 10.77.0.254/24 dev hearth-br
ip link set hearth-br up
for i in 0 1; do
  ip netns add hearth-n$i
  ip link add hearth-v$i type veth peer name hearth-p$i
  ip link set hearth-v$i netns hearth-n$i
  ip link set hearth-p$i master hearth-br
  ip link set hearth-p$i up
  ip -n hearth-n$i addr add 10.77.0.$((i + 1))/24 dev hearth-v$i
  ip -n hearth-n$i link set hearth-v$i up
  ip -n hearth-n$i link set lo up
  # Both directions of each link: the namespace's side and the bridge's side.
  tc -n hearth-n$i qdisc add dev hearth-v$i root tbf rate "$rate" burst "$burst" latency 10ms
  tc qdisc add dev hearth-p$i root tbf rate "$rate" burst "$burst" latency 10ms
done
# The link as shaped: 32 MiB from one namespace to the other over TCP.
ip netns exec hearth-n1 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.77.0.2", 5999)); s.listen(1)
c, _ = s.accept()
while c.recv(1 << 20): pass' &
sleep 0.5
ip netns exec hearth-n0 python3 -c '
import socket, time
c = socket.create_connection(("10.77.0.2", 5999)); buf = b"x" * (1 << 20); t = time.time()
for _ in range(32): c.sendall(buf)
c.close(); print("link: 32 MiB in %.3f s = %.0f Mbit/s" % (time.time() - t, 32 * 8 * 1.048576 / (time.time() - t)))'
wait
cat > "$tmp/rsh" <<'RSH'
#!/bin/sh
host=$1; shift
exec ip netns exec "hearth-n$(( ${host##*.} - 1 ))" /bin/sh -c "$*"
RSH
chmod +x "$tmp/rsh"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$tmp/hosts"
net=(--hostfile "$tmp/hosts" --mca plm_rsh_agent "$tmp/rsh" --mca btl tcp,self
     --mca oob_tcp_if_include 10.77.0.0/24 --mca btl_tcp_if_include 10.77.0.0/24)
summary='
import json, sys
j = json.loads(sys.argv[1])
t = {x["test"][:2]: x["avg_ts"] for x in j["tests"]}
print("pp %.2f tg %.2f | %.0f bytes/token | ms/token %.2f | %s" % (t["pp"], t["tg"], j["wire_bytes_per_token"], 1000 / t["tg"],
      " ; ".join("%s compute %.2f s wait %.2f s" % (s["layers"], s["compute_s"], s["wait_s"]) for s in j["stages"])))'
for round in $(seq "$rounds"); do
  for cfg in "shared-memory|local|f32" "tcp-$rate|net|f32" "tcp-$rate-f16|net|f16"; do
    IFS='|' read -r name where wire <<< "$cfg"
    extra=(--oversubscribe)
    [ "$where" = net ] && extra=("${net[@]}")
    json=$(mpirun "${extra[@]}" --bind-to none -np 2 build/hearth bench -m "$model" --pipeline --wire "$wire" \
             -p "$p" -n "$n" -t 2 -r 1 -o json 2>/dev/null) || true
    if [ -z "$json" ]; then echo "$round $name: the run failed"; continue; fi
    echo "$round $name $(python3 -c "$summary" "$json")"
  done
done

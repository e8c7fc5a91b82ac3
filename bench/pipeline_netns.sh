#!/usr/bin/env bash
# The network's share of a pipeline's time per token: 2 ranks in two network namespaces joined by a bridge, each
# link limited to 1 Gbit/s (tc tbf, both directions), MPI over TCP between them, against the same 2 ranks on
# shared memory; rounds interleaved. Needs root (ip netns, tc). mpirun starts one daemon per "host" through a
# stand-in for ssh that enters the host's namespace.
#   bench/pipeline_netns.sh MODEL.gguf [PROMPT_TOKENS] [GEN_TOKENS] [ROUNDS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 p=${2:-64} n=${3:-32} rounds=${4:-2} rate=${5:-1gbit}
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
  tc -n hearth-n$i qdisc add dev hearth-v$i root tbf rate "$rate" burst 128kb latency 10ms
  tc qdisc add dev hearth-p$i root tbf rate "$rate" burst 128kb latency 10ms
done
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
  for cfg in "shared-memory|local|f32" "1-gbit-tcp|net|f32" "1-gbit-tcp-f16|net|f16"; do
    IFS='|' read -r name where wire <<< "$cfg"
    extra=(--oversubscribe)
    [ "$where" = net ] && extra=("${net[@]}")
    json=$(mpirun "${extra[@]}" --bind-to none -np 2 build/hearth bench -m "$model" --pipeline --wire "$wire" \
             -p "$p" -n "$n" -t 2 -r 1 -o json 2>/dev/null)
    echo "$round $name $(python3 -c "$summary" "$json")"
  done
done

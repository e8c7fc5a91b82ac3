#!/usr/bin/env bash
# Layer streaming over a 2-rank pipeline: contiguous stages against the looped schedule (--laps 2), each rank
# under the same --mem-budget, with the resident runs beside them; rounds interleaved. One line per run:
# prompt and generation tokens/s and each rank's streaming counters.
#   bench/pipeline_laps.sh MODEL.gguf BUDGET [PROMPT_TOKENS] [GEN_TOKENS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 budget=$2 p=${3:-64} n=${4:-32} rounds=${5:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
configs=("resident-norepack|--no-repack" "contiguous|--mem-budget $budget" "looped2|--laps 2 --mem-budget $budget"
         "resident|")
for round in $(seq "$rounds"); do
  for cfg in "${configs[@]}"; do
    name=${cfg%%|*} args=${cfg#*|}
    # shellcheck disable=SC2086
    json=$(mpirun --oversubscribe --bind-to none -np 2 build/hearth bench -m "$model" --pipeline $args \
             -p "$p" -n "$n" -t 2 -r 1 -o json 2>/dev/null)
    echo "$round $name $(python3 -c '
import json, sys
j = json.loads(sys.argv[1])
t = {x["test"][:2]: x["avg_ts"] for x in j["tests"]}
st = " ; ".join("%s: read %.0f MiB, load %.2f s, waited %.2f s, compute %.2f s" % (s["layers"], s["stream_bytes_read"] / 2**20,
                s["stream_load_s"], s["stream_wait_s"], s["compute_s"]) for s in j["stages"])
print("pp %.2f tg %.2f | %s" % (t["pp"], t["tg"], st))' "$json")"
  done
done

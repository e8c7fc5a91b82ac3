#!/usr/bin/env python3
"""Interleaved speed comparison of hearth and llama.cpp on the same GGUF files.

For each model and thread count, runs `hearth bench` and `llama-bench` alternately, one repetition each per
round, so that both see the same machine state (these machines are shared and noisy), then reports the
median tokens/s of each and their ratio.

  bench/compare.py --hearth build/hearth --llama-bench /path/to/llama-bench \
      --models m1.gguf,m2.gguf --threads 1,2 --rounds 5 [--ngl 99] [-p 512] [-n 128] [--noamx SHIM.so]

--noamx adds a second llama.cpp column: the same binary run with an LD_PRELOAD shim (bench/llama_cpp/noamx.c)
that refuses the AMX permission request, so llama.cpp uses its AVX-512 kernels instead of its AMX ones (which
give wrong results for several types at commit c392e50 on CPUs with AMX; see bench/llama_cpp/README.md).

llama.cpp is built outside this repository (see bench/llama_cpp/README.md); this script only runs it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    start = out.find("[")
    return json.loads(out[start:])


def hearth_once(args, model, threads, test, n):
    cmd = [args.hearth, "bench", "-m", model, "-t", str(threads), "-r", "1", "-o", "json",
           "-p", str(n if test == "pp" else 0), "-n", str(n if test == "tg" else 0)]
    if args.ngl is not None:
        cmd += ["-ngl", str(args.ngl)]
    rows = run_json(cmd)
    return rows[0]["avg_ts"]


def llama_once(args, model, threads, test, n, preload=None):
    cmd = [args.llama_bench, "-m", model, "-t", str(threads), "-r", "1", "-o", "json",
           "-p", str(n if test == "pp" else 0), "-n", str(n if test == "tg" else 0)]
    cmd += ["-ngl", str(args.ngl if args.ngl is not None else 0)]
    env = dict(os.environ, LD_PRELOAD=preload) if preload else None
    rows = run_json(cmd, env)
    return rows[0]["avg_ts"]


def probe(args):
    """Read bandwidth per thread count (bench_matmul with no types measures only that)."""
    out = subprocess.run([args.bandwidth, "--types", "", "--threads", args.threads], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        if "bandwidth" in line:
            print(f"  {line.strip()}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hearth", default="build/hearth")
    ap.add_argument("--llama-bench", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--ngl", type=int, default=None)
    ap.add_argument("--tests", default="pp,tg")
    ap.add_argument("--noamx", default=None, help="LD_PRELOAD shim that hides AMX from llama.cpp (extra column)")
    ap.add_argument("--bandwidth", default=None, metavar="BENCH_MATMUL",
                    help="build/bench/bench_matmul: measure the read bandwidth before each model and print it")
    args = ap.parse_args()

    extra_head = " llama.cpp no-AMX t/s | ratio |" if args.noamx else ""
    extra_rule = " ------: | ----: |" if args.noamx else ""
    print("| model | threads | test | hearth t/s (median) | llama.cpp t/s (median) | ratio |" + extra_head)
    print("| ----- | ------: | ---- | ------------------: | ---------------------: | ----: |" + extra_rule)
    for model in args.models.split(","):
        if args.bandwidth:
            probe(args)
        for threads in [int(t) for t in args.threads.split(",")]:
            for test in args.tests.split(","):
                n = args.p if test == "pp" else args.n
                h, l, a = [], [], []
                for _ in range(args.rounds):
                    h.append(hearth_once(args, model, threads, test, n))
                    l.append(llama_once(args, model, threads, test, n))
                    if args.noamx:
                        a.append(llama_once(args, model, threads, test, n, args.noamx))
                mh, ml = statistics.median(h), statistics.median(l)
                name = model.rsplit("/", 1)[-1]
                extra = ""
                if a:
                    ma = statistics.median(a)
                    extra = f" {ma:.2f} | {mh / ma:.2f} |"
                print(f"| {name} | {threads} | {test}{n} | {mh:.2f} | {ml:.2f} | {mh / ml:.2f} |{extra}", flush=True)
                print(f"  raw hearth={['%.2f' % x for x in h]} llama.cpp={['%.2f' % x for x in l]}"
                      + (f" no-AMX={['%.2f' % x for x in a]}" if a else ""), file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Aggregate generation speed of an OpenAI-compatible server with N concurrent streaming clients.

Each round sends N /v1/completions requests at once (stream: true, the same prompt, max_tokens tokens, EOS
suppressed with logit_bias so every stream generates exactly max_tokens tokens) and measures, per stream, the
time to first token and the generation rate after it, and for the round the aggregate generation rate:
tokens generated after each stream's first token, summed, divided by the time from the earliest first token to
the last token. Works against `hearth serve --parallel N` and llama.cpp's `llama-server -np N` alike.

  bench/serve_parallel.py --url http://127.0.0.1:8080 --model tl --streams 1,2,4,8 -n 128 --rounds 3
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def stream_one(url, body, headers, out):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=600)
    t0 = time.perf_counter()
    times = []
    try:
        conn.request("POST", "/v1/completions", body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            out["error"] = f"HTTP {resp.status}: {resp.read()[:200]!r}"
            return
        for raw in resp:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            j = json.loads(data)
            choices = j.get("choices") or []
            # One chunk per generated token in both servers; the last chunk carries only finish_reason.
            if choices and choices[0].get("text") is not None and choices[0].get("finish_reason") is None:
                times.append(time.perf_counter())
            if j.get("stop") is True:  # llama-server's final chunk
                break
    except Exception as e:  # report and go on: one failed stream must not lose the round
        out["error"] = str(e)
    finally:
        conn.close()
    out["start"], out["times"] = t0, times


def run_round(args, n_streams, round_no):
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = "Bearer " + args.api_key
    outs = [dict() for _ in range(n_streams)]
    threads = []
    for i in range(n_streams):
        body = {"model": args.model, "prompt": args.prompt, "max_tokens": args.n, "n_predict": args.n,
                "stream": True, "temperature": args.temp, "seed": 1000 * round_no + i,
                "logit_bias": {str(args.eos): -1000}, "cache_prompt": False}
        threads.append(threading.Thread(target=stream_one, args=(args.url, body, headers, outs[i])))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [o["error"] for o in outs if "error" in o]
    if errors:
        return {"errors": errors}
    firsts = [o["times"][0] for o in outs if o["times"]]
    lasts = [o["times"][-1] for o in outs if o["times"]]
    after_first = sum(len(o["times"]) - 1 for o in outs)
    span = max(lasts) - min(firsts)
    per_stream = [(len(o["times"]) - 1) / (o["times"][-1] - o["times"][0]) for o in outs if len(o["times"]) > 1]
    return {"aggregate_tps": after_first / span if span > 0 else 0.0,
            "tokens": sum(len(o["times"]) for o in outs),
            "ttft_ms": statistics.median((o["times"][0] - o["start"]) * 1000 for o in outs if o["times"]),
            "stream_tps": statistics.median(per_stream) if per_stream else 0.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--model", default="default")
    ap.add_argument("--api-key", default="")
    ap.add_argument("--streams", default="1,2,4,8")
    ap.add_argument("-n", type=int, default=128, help="tokens per stream")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--temp", type=float, default=0.8)
    ap.add_argument("--eos", type=int, default=2, help="EOS token id to suppress")
    ap.add_argument("--prompt", default="Once upon a time, in a small village by the sea, there lived")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", action="store_true", help="one JSON line per stream count")
    args = ap.parse_args()
    run_round(args, 1, 0)  # warm-up, not reported
    for n in [int(s) for s in args.streams.split(",")]:
        rounds = [run_round(args, n, r + 1) for r in range(args.rounds)]
        errs = [e for r in rounds for e in r.get("errors", [])]
        ok = [r for r in rounds if "errors" not in r]
        if not ok:
            print(f"{args.label} streams={n}: every round failed: {errs[:3]}", file=sys.stderr)
            continue
        row = {"label": args.label, "streams": n, "rounds": len(ok),
               "aggregate_tps": statistics.median(r["aggregate_tps"] for r in ok),
               "stream_tps": statistics.median(r["stream_tps"] for r in ok),
               "ttft_ms": statistics.median(r["ttft_ms"] for r in ok),
               "tokens_per_round": ok[0]["tokens"], "failed_rounds": len(rounds) - len(ok)}
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"{args.label:>12} streams={n}: aggregate {row['aggregate_tps']:7.2f} t/s, per stream "
                  f"{row['stream_tps']:6.2f} t/s, TTFT {row['ttft_ms']:7.1f} ms ({len(ok)} rounds)", flush=True)


if __name__ == "__main__":
    main()

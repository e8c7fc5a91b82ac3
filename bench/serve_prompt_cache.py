#!/usr/bin/env python3
"""Time of a conversation's next turn on an OpenAI-compatible server, with and without prompt caching.

A conversation grows turn by turn: each turn's prompt is the previous prompt, the previous reply and new text,
sent to /v1/completions with max_tokens tokens (EOS suppressed with logit_bias). Every turn is sent twice,
interleaved: with "cache_prompt": true (the server may reuse the K/V of the prefix it already holds) and with
"cache_prompt": false (the whole prompt is evaluated), the cached request first. Reported per turn: prompt
tokens, the tokens the server reused (timings.cache_n where the server reports it), and the request time of
each. Works against `hearth serve` and llama.cpp's `llama-server` (same field, same timings).

  bench/serve_prompt_cache.py --url http://127.0.0.1:8080 --model tl --turns 6 --turn-words 150 -n 16
"""
import argparse
import http.client
import json
import statistics
import sys
import time
import urllib.parse

WORDS = ("the quick brown fox jumps over a lazy dog while seven bright stars shine above quiet hills and a small "
         "river runs through green fields near an old stone house where children play every summer").split()


def post(url, body):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=900)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    dt = time.perf_counter() - t0
    if resp.status != 200:
        sys.exit(f"HTTP {resp.status}: {data[:300]!r}")
    return json.loads(data), dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", default="")
    ap.add_argument("--turns", type=int, default=6)
    ap.add_argument("--turn-words", type=int, default=150, help="new words per turn")
    ap.add_argument("-n", type=int, default=16, help="tokens generated per turn")
    ap.add_argument("--eos", type=int, default=2, help="token id suppressed so every reply has -n tokens")
    args = ap.parse_args()

    prompt = ""
    ratios = []
    print("| turn | prompt tokens | reused | cached s | full s | full / cached |")
    print("| ---: | ----: | ----: | ----: | ----: | ----: |")
    for turn in range(1, args.turns + 1):
        prompt += " ".join(WORDS[(turn * 7 + i) % len(WORDS)] for i in range(args.turn_words)) + "\n"
        body = {"model": args.model, "prompt": prompt, "max_tokens": args.n, "temperature": 0,
                "logit_bias": {str(args.eos): -1e9}}
        cached, t_cached = post(args.url, dict(body, cache_prompt=True))
        full, t_full = post(args.url, dict(body, cache_prompt=False))
        n_prompt = cached.get("usage", {}).get("prompt_tokens", 0)
        reused = cached.get("timings", {}).get("cache_n", "-")
        if turn > 1:
            ratios.append(t_full / t_cached)
        print(f"| {turn} | {n_prompt} | {reused} | {t_cached:.2f} | {t_full:.2f} | {t_full / t_cached:.2f} |")
        # The next turn continues the reply the cached request gave.
        prompt += cached["choices"][0]["text"] + "\n"
    if ratios:
        print(f"\nmedian full / cached over turns 2..{args.turns}: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()

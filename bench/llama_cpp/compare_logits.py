#!/usr/bin/env python3
"""Compares hearth's logits with llama.cpp's on the same GGUF file and the same token ids.

Both programs write the next-token logits of every prompt position as raw float32 [n_tokens, n_vocab]
(`hearth logits --out`, and the small llama-logits program described in README.md). For each position
this reports top-1 agreement, the max absolute difference, the normalized MSE (sum (a-b)^2 / sum b^2)
and the KL divergence KL(llama.cpp || hearth) of the softmax distributions.

  bench/llama_cpp/compare_logits.py --hearth build/hearth --llama-logits /work/scratch/llama-logits/llama-logits \
      --model m.gguf --ids 1,450,4996,17354 [--prompt TEXT] [--threads 2] [--max-abs 0.05] [--min-top1 1.0]

Either program can be replaced by a saved file (--hearth-out / --llama-out) to compare runs made elsewhere.
Exit status 1 when a threshold is exceeded. Standard library only.
"""
import argparse
import array
import math
import os
import subprocess
import sys
import tempfile


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    for line in r.stdout.splitlines():
        if line.startswith("tokens:"):
            return [int(t) for t in line.split()[1:]]
    return None


def load(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def softmax(row):
    m = max(row)
    e = [math.exp(x - m) for x in row]
    s = sum(e)
    return [x / s for x in e]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--hearth", default="build/hearth")
    ap.add_argument("--llama-logits", default="/work/scratch/llama-logits/llama-logits")
    ap.add_argument("--hearth-out", help="use this saved hearth logits file instead of running hearth")
    ap.add_argument("--llama-out", help="use this saved llama.cpp logits file instead of running llama-logits")
    ap.add_argument("--ids", help="comma-separated token ids (default: tokenize --prompt with each engine)")
    ap.add_argument("--prompt", default="Once upon a time")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-abs", type=float, default=None, help="fail when the max abs difference exceeds this")
    ap.add_argument("--min-top1", type=float, default=None, help="fail when top-1 agreement (0..1) is below this")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="hearth-logits-")
    src = ["--ids", args.ids] if args.ids else ["-p", args.prompt]
    tok_h = tok_l = None
    h_path = args.hearth_out or os.path.join(tmp, "hearth.f32")
    l_path = args.llama_out or os.path.join(tmp, "llama.f32")
    if not args.hearth_out:
        tok_h = run([args.hearth, "logits", "-m", args.model, "-t", str(args.threads), "--out", h_path] + src)
    if not args.llama_out:
        tok_l = run([args.llama_logits, "-m", args.model, "-t", str(args.threads), "--out", l_path] + src)
    if tok_h is not None and tok_l is not None and tok_h != tok_l:
        sys.exit(f"the engines tokenized differently:\n  hearth    {tok_h}\n  llama.cpp {tok_l}")
    tokens = tok_h or tok_l
    h, l = load(h_path), load(l_path)
    if len(h) != len(l):
        sys.exit(f"logit counts differ: hearth {len(h)}, llama.cpp {len(l)}")
    n_tok = len(tokens) if tokens else (len(args.ids.split(",")) if args.ids else 1)
    if len(h) % n_tok:
        sys.exit(f"{len(h)} logits is not a multiple of {n_tok} tokens")
    nv = len(h) // n_tok

    print(f"model {args.model}: {n_tok} tokens, vocab {nv}")
    print(f"{'pos':>4} {'token':>7} {'top1 h':>7} {'top1 l':>7} {'max|d|':>10} {'max|l|':>9} {'nmse':>10} {'KL':>10}")
    agree = 0
    worst_abs = 0.0
    for p in range(n_tok):
        a = h[p * nv:(p + 1) * nv]
        b = l[p * nv:(p + 1) * nv]
        ta = max(range(nv), key=a.__getitem__)
        tb = max(range(nv), key=b.__getitem__)
        agree += ta == tb
        d = max(abs(x - y) for x, y in zip(a, b))
        worst_abs = max(worst_abs, d)
        nmse = sum((x - y) ** 2 for x, y in zip(a, b)) / max(sum(y * y for y in b), 1e-30)
        pa, pb = softmax(a), softmax(b)
        kl = sum(q * (math.log(q) - math.log(max(r, 1e-45))) for q, r in zip(pb, pa) if q > 0)
        tok = tokens[p] if tokens else -1
        print(f"{p:>4} {tok:>7} {ta:>7} {tb:>7} {d:>10.3g} {max(map(abs, b)):>9.3g} {nmse:>10.3g} {kl:>10.3g}"
              + ("" if ta == tb else "  <- top-1 differs"))
    frac = agree / n_tok
    print(f"top-1 agreement {agree}/{n_tok} ({100 * frac:.1f}%), max abs difference {worst_abs:.4g}")
    ok = True
    if args.max_abs is not None and worst_abs > args.max_abs:
        print(f"FAIL: max abs difference {worst_abs:.4g} > {args.max_abs}")
        ok = False
    if args.min_top1 is not None and frac < args.min_top1:
        print(f"FAIL: top-1 agreement {frac:.3f} < {args.min_top1}")
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

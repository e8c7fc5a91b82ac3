#!/usr/bin/env python3
"""Writes tests/data/arch_reference.json: llama.cpp's logits for small random-weight files of every
architecture hearth runs, made by hearth-gen. tests/arch_reference_test.cpp makes the same files again (the
generator is deterministic; the test checks each file's sha256 first) and compares hearth's logits with these.

  bench/llama_cpp/arch_references.py --hearth-gen build/hearth-gen \
      --llama-logits /work/scratch/llama-logits/llama-logits-noamx --out tests/data/arch_reference.json

llama-logits is the small program described in README.md (llama.cpp's public API, built outside the repo).
For each position the file keeps llama.cpp's argmax and every STRIDE-th logit (ids 0, STRIDE, 2 STRIDE...),
enough to compare the distributions without storing whole rows. Standard library only.
"""
import argparse
import array
import hashlib
import json
import os
import subprocess
import sys
import tempfile

SHAPE = ["--n-embd", "128", "--n-layer", "2", "--n-head", "4", "--n-ff", "256", "--n-vocab", "512",
         "--n-ctx", "256", "--scale", "0.05", "--seed", "7"]
# name, architecture, K/V heads, file type, extra hearth-gen flags
CONFIGS = [
    ("llama-f32", "llama", 2, "f32", []),
    ("qwen2-f32", "qwen2", 2, "f32", []),
    ("qwen3-f32", "qwen3", 2, "f32", []),
    ("phi3-f32", "phi3", 2, "f32", []),
    ("gemma-f32", "gemma", 2, "f32", []),
    ("gemma-wide-heads-f32", "gemma", 2, "f32", ["--head-dim", "64"]),  # Gemma-7B: q_dim > n_embd
    ("qwen3-wide-heads-f32", "qwen3", 2, "f32", ["--head-dim", "64"]),  # Qwen3 0.6B-8B likewise
    # Gemma 2: local (even) and global layers, soft-capped scores and logits; Gemma 3: five local layers (window
    # 3, RoPE base 10000) to one global (the file's base, linearly scaled), Q/K norms, wide heads.
    ("gemma2-f32", "gemma2", 2, "f32", ["--sliding-window", "3", "--attn-softcap", "1.0", "--final-softcap", "2.0"]),
    ("gemma3-f32", "gemma3", 2, "f32", ["--n-layer", "6", "--sliding-window", "3", "--rope-scale", "8",
                                        "--head-dim", "64"]),
    # LongRoPE: the short factors within the original context, the long ones beyond it (original 4 < every
    # context either engine uses); Phi-4-mini's partial rotation (3/4 of each head).
    ("phi3-longrope-short-f32", "phi3", 2, "f32", ["--long-rope"]),
    ("phi3-longrope-long-f32", "phi3", 2, "f32", ["--long-rope", "--n-ctx-orig", "4"]),
    ("phi4-mini-f32", "phi3", 2, "f32", ["--long-rope", "--n-ctx-orig", "4", "--n-rot", "24"]),
    ("mixtral-f32", "llama", 2, "f32", ["--n-expert", "8", "--n-expert-used", "2"]),
    ("qwen3moe-f32", "qwen3moe", 2, "f32", ["--n-expert", "16", "--n-expert-used", "4", "--n-ff-exp", "64"]),
    # Qwen2-MoE: biases, weights not renormalized, a shared expert behind a sigmoid gate.
    ("qwen2moe-f32", "qwen2moe", 2, "f32", ["--n-expert", "8", "--n-expert-used", "2", "--n-ff-exp", "64",
                                            "--n-ff-shexp", "96"]),
    ("mixtral-q8_0", "llama", 2, "q8_0", ["--n-expert", "8", "--n-expert-used", "2"]),
    # Granite 3's multipliers (embeddings, residuals, attention, logits); its MoE with a shared expert.
    ("granite-f32", "granite", 2, "f32", []),
    ("granitemoe-f32", "granitemoe", 2, "f32", ["--n-expert", "8", "--n-expert-used", "2", "--n-ff-shexp", "96"]),
    ("gpt2-f32", "gpt2", 4, "f32", []),
    ("starcoder-f32", "starcoder", 1, "f32", []),
    ("falcon-f32", "falcon", 2, "f32", []),
    ("falcon40b-f32", "falcon", 2, "f32", ["--falcon-norm-2"]),
    ("command-r-f32", "command-r", 2, "f32", []),
    ("phi3-q8_0", "phi3", 2, "q8_0", []),
    ("gpt2-q8_0", "gpt2", 4, "q8_0", []),
]
IDS = [1, 100, 200, 300, 400, 5, 77, 300, 12, 511]
STRIDE = 8


def with_overrides(shape, extra):
    """shape's flags and values, those that extra also gives taking extra's value, then extra's other flags."""
    out = list(shape)
    rest = []
    i = 0
    while i < len(extra):
        flag = extra[i]
        has_value = i + 1 < len(extra) and not extra[i + 1].startswith("--")
        if flag in out and has_value:
            out[out.index(flag) + 1] = extra[i + 1]
        else:
            rest += extra[i:i + 1 + has_value]
        i += 1 + has_value
    return out + rest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hearth-gen", default="build/hearth-gen")
    ap.add_argument("--llama-logits", default="/work/scratch/llama-logits/llama-logits-noamx")
    ap.add_argument("--llama-version", default="", help="recorded in the file (llama.cpp tag or commit)")
    ap.add_argument("--out", default="tests/data/arch_reference.json")
    args = ap.parse_args()
    out = {"about": "llama.cpp logits for hearth-gen files; made by bench/llama_cpp/arch_references.py",
           "llama_cpp": args.llama_version, "ids": IDS, "stride": STRIDE, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch, kv, ftype, extra in CONFIGS:
            gguf = os.path.join(tmp, name + ".gguf")
            gen_args = ["--arch", arch, "--n-head-kv", str(kv), "--type", ftype] + with_overrides(SHAPE, extra)
            subprocess.run([args.hearth_gen, *gen_args, "-o", gguf, "-t", "1"], check=True, capture_output=True)
            with open(gguf, "rb") as f:
                sha = hashlib.sha256(f.read()).hexdigest()
            logits_path = os.path.join(tmp, name + ".f32")
            subprocess.run([args.llama_logits, "-m", gguf, "--ids", ",".join(map(str, IDS)), "--out", logits_path,
                            "-t", "1"], check=True, capture_output=True)
            a = array.array("f")
            with open(logits_path, "rb") as f:
                a.frombytes(f.read())
            n_vocab = len(a) // len(IDS)
            rows = []
            for p in range(len(IDS)):
                row = a[p * n_vocab:(p + 1) * n_vocab]
                rows.append({"argmax": max(range(n_vocab), key=lambda i: row[i]),
                             "logits": [round(float(row[i]), 6) for i in range(0, n_vocab, STRIDE)]})
            out["models"].append({"name": name, "gen_args": gen_args, "sha256": sha, "n_vocab": n_vocab,
                                  "positions": rows})
            print(f"{name}: {sha[:12]}, argmax {[r['argmax'] for r in rows]}", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()

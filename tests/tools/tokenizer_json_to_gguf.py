#!/usr/bin/env python3
"""Builds a vocab-only GGUF (no tensors) from a Hugging Face byte-level BPE tokenizer.json, for tests.

    tokenizer_json_to_gguf.py TOKENIZER_JSON OUT_GGUF [--pre llama-bpe] [--bos TEXT] [--eos TEXT]

Writes tokenizer.ggml.{model=gpt2, pre, tokens, token_type, merges, bos/eos_token_id, add_bos_token}.
Added tokens marked "special" become CONTROL (3), other added tokens USER_DEFINED (4). Python 3 stdlib only.
"""
import argparse
import json
import struct
import sys

T_UINT32, T_BOOL, T_STRING, T_ARRAY, T_INT32 = 4, 7, 8, 9, 5


def w_str(out, s):
    b = s.encode("utf-8")
    out += struct.pack("<Q", len(b)) + b


def kv_string(out, key, value):
    w_str(out, key)
    out += struct.pack("<I", T_STRING)
    w_str(out, value)


def kv_u32(out, key, value):
    w_str(out, key)
    out += struct.pack("<II", T_UINT32, value)


def kv_bool(out, key, value):
    w_str(out, key)
    out += struct.pack("<IB", T_BOOL, 1 if value else 0)


def kv_strings(out, key, values):
    w_str(out, key)
    out += struct.pack("<IIQ", T_ARRAY, T_STRING, len(values))
    for v in values:
        w_str(out, v)


def kv_i32s(out, key, values):
    w_str(out, key)
    out += struct.pack("<IIQ", T_ARRAY, T_INT32, len(values))
    out += struct.pack("<%di" % len(values), *values)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tokenizer_json")
    ap.add_argument("out_gguf")
    ap.add_argument("--pre", default="llama-bpe")
    ap.add_argument("--name", default="llama3-vocab")
    ap.add_argument("--bos", default="<|begin_of_text|>")
    ap.add_argument("--eos", default="<|end_of_text|>")
    ap.add_argument("--llama31-names", action="store_true",
                    help="rename Llama 3's reserved added tokens to Llama 3.1's names (same ids, same base vocab)")
    args = ap.parse_args()

    with open(args.tokenizer_json, encoding="utf-8") as f:
        tj = json.load(f)
    model = tj["model"]
    if model.get("type") != "BPE":
        sys.exit("only BPE tokenizer.json files are supported")
    vocab = dict(model["vocab"])
    types = {i: 1 for i in vocab.values()}
    for t in tj.get("added_tokens", []):
        vocab[t["content"]] = t["id"]
        types[t["id"]] = 3 if t.get("special") else 4
    if args.llama31_names:
        rename = {128002: "<|reserved_special_token_0|>", 128003: "<|reserved_special_token_1|>",
                  128004: "<|finetune_right_pad_id|>", 128005: "<|reserved_special_token_2|>",
                  128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>",
                  128009: "<|eot_id|>", 128010: "<|python_tag|>"}
        for i in range(128011, 128256):
            rename[i] = "<|reserved_special_token_%d|>" % (i - 128008)
        vocab = {t: i for t, i in vocab.items() if i not in rename}
        vocab.update({t: i for i, t in rename.items()})
    n = max(vocab.values()) + 1
    tokens = [None] * n
    for text, i in vocab.items():
        tokens[i] = text
    token_type = []
    for i in range(n):
        if tokens[i] is None:
            tokens[i] = "[PAD%d]" % i
            token_type.append(5)  # unused
        else:
            token_type.append(types[i])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]

    kv = bytearray()
    n_kv = 0

    def count(fn, *a):
        nonlocal n_kv
        fn(kv, *a)
        n_kv += 1

    count(kv_string, "general.architecture", "llama")
    count(kv_string, "general.name", args.name)
    count(kv_string, "tokenizer.ggml.model", "gpt2")
    count(kv_string, "tokenizer.ggml.pre", args.pre)
    count(kv_strings, "tokenizer.ggml.tokens", tokens)
    count(kv_i32s, "tokenizer.ggml.token_type", token_type)
    count(kv_strings, "tokenizer.ggml.merges", merges)
    if args.bos in vocab:
        count(kv_u32, "tokenizer.ggml.bos_token_id", vocab[args.bos])
        count(kv_bool, "tokenizer.ggml.add_bos_token", True)
    if args.eos in vocab:
        count(kv_u32, "tokenizer.ggml.eos_token_id", vocab[args.eos])

    header = b"GGUF" + struct.pack("<IQQ", 3, 0, n_kv)
    data = header + bytes(kv)
    data += b"\0" * ((-len(data)) % 32)  # the (empty) data section starts aligned
    with open(args.out_gguf, "wb") as f:
        f.write(data)
    print("wrote %s: %d tokens, %d merges" % (args.out_gguf, n, len(merges)))


if __name__ == "__main__":
    main()

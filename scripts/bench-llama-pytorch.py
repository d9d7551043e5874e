#!/usr/bin/env python3
"""The PyTorch side of issue 20's Llama benchmark: tests/python/llama_ref.py's model on a checkpoint folder.

Loads the folder with every weight converted to the compute dtype as it is read (one tensor at a time),
then times a prefill of one random prompt and a greedy decode with the key/value cache, and prints one
JSON line: load seconds, resident memory before loading (torch itself) and its peak after loading and at
the end, prefill and decode tokens/s, the weight bytes a decoded token reads and the rate that makes, and
this machine's copy bandwidth (a large tensor copy, bytes read plus written per second) to set it against.
With 2 threads on a loaded machine each of a decode step's many small parallel regions waits for a
descheduled thread: say the load average with every figure (it is in the line).

  scripts/bench-llama-pytorch.py DIR [--dtype f32|bf16] [--threads 2] [--prompt 128] [--decode 64]

A TinyLlama-shaped checkpoint (about 4.4 GB in f32):
  tests/python/make_llama.py make DIR --layers 22 --width 2048 --heads 32 --kv-heads 4 --mlp 5632
      --vocab 32000 --positions 2048 --rms-norm-eps 1e-5 --std 0.02 --shards 2 --no-reference
"""
import argparse
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from llama_ref import Llama  # noqa: E402

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def copy_bandwidth(mb=512, repeats=5):
    src = torch.ones(mb * 2 ** 20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    start = time.perf_counter()
    for _ in range(repeats):
        dst.copy_(src)
    seconds = time.perf_counter() - start
    del src, dst
    return 2 * mb * 2 ** 20 * repeats / seconds / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=128, help="prefill length")
    parser.add_argument("--decode", type=int, default=64, help="greedy tokens after the prompt")
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    with torch.no_grad():
        base_rss = peak_rss_mb()  # the interpreter and torch before any weight
        start = time.perf_counter()
        model = Llama.load(a.model, DTYPES[a.dtype])
        load_seconds = time.perf_counter() - start
        load_rss = peak_rss_mb()
        c = model.c
        weight_bytes = sum(t.numel() * t.element_size() for t in model.w.values())
        # a decoded token reads every weight once except the embedding table, of which it reads one row
        # (unless the head is tied to it, when the head's matmul reads it all)
        embedding = model.w["model.embed_tokens.weight"]
        token_bytes = weight_bytes - (0 if c.tied else embedding.numel() * embedding.element_size())
        ids = torch.randint(0, c.vocab, (a.prompt,), generator=torch.Generator().manual_seed(a.seed)).tolist()

        model.forward(ids[:8], model.new_cache())  # warm-up: allocator and kernels, not timed
        cache = model.new_cache()
        start = time.perf_counter()
        logits = model.forward(ids, cache)[-1]
        prefill_seconds = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(a.decode):
            logits = model.forward([int(logits.argmax())], cache)[-1]
        decode_seconds = time.perf_counter() - start
    decode_rate = a.decode / decode_seconds
    print(json.dumps({
        "impl": "pytorch-reference", "torch": torch.__version__, "threads": torch.get_num_threads(), "dtype": a.dtype,
        "model": os.path.abspath(a.model), "layers": c.layers, "width": c.width, "heads": c.heads, "kv_heads": c.kv_heads,
        "mlp": c.mlp, "vocab": c.vocab, "load_s": round(load_seconds, 2), "rss_before_load_mb": round(base_rss), "peak_rss_after_load_mb": round(load_rss),
        "peak_rss_mb": round(peak_rss_mb()), "weights_mb": round(weight_bytes / 2 ** 20),
        "prefill_tokens": a.prompt, "prefill_tokens_per_s": round(a.prompt / prefill_seconds, 2),
        "decode_tokens": a.decode, "decode_tokens_per_s": round(decode_rate, 3),
        "decode_weight_gb_per_s": round(token_bytes * decode_rate / 1e9, 2), "copy_gb_per_s": round(copy_bandwidth(), 2),
        "loadavg_1m": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The notebook-03 training step and greedy evaluation in PyTorch, for comparison with `prefixlab bench`
on the same machine (`prefixlab bench --reference scripts/bench-pytorch.py` runs it beside each run).

A minGPT-style model (4 layers, 4 heads, width 256, learned positions, pre-LayerNorm, tanh GELU, dropout
0.1 in three places, bias-free head), batch 64 of 29 positions with the loss on the last 10, AdamW with
minGPT's groups and gradient clipping: the step paper.md times at 1.3 s on this machine. Random tokens
stand in for the digit lists (the speed does not depend on them). Greedy evaluation is the companion
code's: 10 new tokens after a 19-token prompt (P = 10 padding, 9 digits), each from a forward pass over
the whole sequence so far (no key/value cache), 400 samples at a time as scripts/nb01-pytorch.py scores.
Prints the medians of the timed steps and the evaluation time per sample.

  scripts/bench-pytorch.py [--steps 20] [--threads 2] [--eval-samples 400] [--json]
  (Debian: apt-get install python3-torch)
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from torch_gpt import Gpt, adamw

PROMPT, NEW = 19, 10


@torch.no_grad()
def greedy_ms_per_sample(model, samples, batch=400):
    model.eval()
    start = time.perf_counter()
    for begin in range(0, samples, batch):
        seq = torch.randint(0, 10, (min(batch, samples - begin), PROMPT))
        for _ in range(NEW):
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
    model.train()
    return 1000 * (time.perf_counter() - start) / samples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-samples", type=int, default=400, help="greedy samples timed (0: none)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Gpt(vocab=11, block=PROMPT + NEW, layers=4, heads=4, width=256)
    optimizer = adamw(model)
    model.train()
    times = []
    for step in range(5 + args.steps):
        inputs = torch.randint(0, 10, (64, 29))
        targets = torch.randint(0, 10, (64, 29))
        targets[:, :19] = -1
        start = time.perf_counter()
        logits = model(inputs)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step >= 5:
            times.append(time.perf_counter() - start)
    step_ms = 1000 * statistics.median(times)
    eval_ms = greedy_ms_per_sample(model, args.eval_samples) if args.eval_samples > 0 else None
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "nb03_train_ms": round(step_ms, 2),
                          "nb03_eval_ms_per_sample": None if eval_ms is None else round(eval_ms, 3)}))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: nb03 training step median {step_ms:.0f} ms over {len(times)} steps")
    if eval_ms is not None:
        print(f"nb03 greedy evaluation: {eval_ms:.1f} ms per sample ({args.eval_samples} samples)")


if __name__ == "__main__":
    main()

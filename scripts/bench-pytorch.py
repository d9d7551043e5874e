#!/usr/bin/env python3
"""The notebook-03 training step in PyTorch, for comparison with `prefixlab bench` on the same machine.

A minGPT-style model (4 layers, 4 heads, width 256, learned positions, pre-LayerNorm, tanh GELU, dropout
0.1 in three places, bias-free head), batch 64 of 29 positions with the loss on the last 10, AdamW with
minGPT's groups and gradient clipping: the step paper.md times at 1.3 s on this machine. Random tokens
stand in for the digit lists (the speed does not depend on them). Prints the median of the timed steps.

  scripts/bench-pytorch.py [--steps 20] [--threads 2]        (Debian: apt-get install python3-torch)
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from torch_gpt import Gpt, adamw


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Gpt(vocab=11, block=29, layers=4, heads=4, width=256)
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
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: nb03 training step median {1000 * statistics.median(times):.0f} ms over {len(times)} steps")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The notebook-03 training step in PyTorch, for comparison with `prefixlab bench` on the same machine.

A minGPT-style model (4 layers, 4 heads, width 256, learned positions, pre-LayerNorm, tanh GELU, dropout
0.1 in three places, bias-free head), batch 64 of 29 positions with the loss on the last 10, AdamW with
minGPT's groups and gradient clipping: the step paper.md times at 1.3 s on this machine. Random tokens
stand in for the digit lists (the speed does not depend on them). Prints the median of the timed steps.

  scripts/bench-pytorch.py [--steps 20] [--threads 2]        (Debian: apt-get install python3-torch)
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads, layers):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.c_attn, self.c_proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.c_fc, self.mlp_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.drop = nn.Dropout(0.1)
        for proj in (self.c_proj, self.mlp_proj):
            nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        att = att.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        y = self.drop(F.softmax(att, dim=-1)) @ v
        x = x + self.drop(self.c_proj(y.transpose(1, 2).reshape(b, t, c)))
        return x + self.drop(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")))


class Gpt(nn.Module):
    def __init__(self, vocab=11, block=29, layers=4, heads=4, width=256):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(block, width)
        self.blocks = nn.ModuleList(Block(width, heads, layers) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(width), nn.Linear(width, vocab, bias=False)
        self.drop = nn.Dropout(0.1)

    def forward(self, idx):
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(idx.size(1))))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Gpt()
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 2 and "wte" not in n and "wpe" not in n]
    other = [p for n, p in model.named_parameters() if not any(p is d for d in decay)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}], lr=5e-4, betas=(0.9, 0.95))
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

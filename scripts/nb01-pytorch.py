#!/usr/bin/env python3
"""Notebook 01 of the paper in PyTorch: a second, independent implementation of the recipe, to tell a
PrefixLab bug from seed-to-seed spread when an accuracy falls short of the paper's single run.

The recipe is paper.md §3 as PrefixLab implements it, written again here in plain PyTorch: lists of 10
digits from 0..7 (half of the draws with more than 5 distinct digits rejected), a 25% test split by a
hash of the list, `[P zeros][input][output]` with the loss on the 10 output predictions; a minGPT model
(1 layer, 1 head, width 96, P = 1, vocabulary 10, learned positions, pre-LayerNorm, tanh GELU, dropout
0.1, N(0, 0.02) weights and N(0, 0.02/sqrt(2L)) residual projections, bias-free head); AdamW (betas
0.9/0.95, weight decay 0.1 on Linear weights only, lr 5e-4, gradient clip 1.0, batch 64). Pretrains on
ascending for 20,000 steps, evaluates greedy exact match on 3,200 test lists for ascending and
descending, then fine-tunes every weight on descending for 10,000 steps and evaluates again.
Prints one JSON object per seed.

  scripts/nb01-pytorch.py --seed 1 [--pretrain 20000] [--finetune 10000] [--threads 1] [--eval-every N --log-dir DIR]
  (Debian: apt-get install python3-torch libopenblas0-pthread)
"""
import argparse
import hashlib
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_gpt import Gpt, adamw

LENGTH, DIGITS, VOCAB = 10, 8, 10


def is_test(row):
    """A quarter of all lists are test, decided by a hash of the list alone."""
    return hashlib.blake2b(bytes(row.tolist()), digest_size=8).digest()[0] % 4 == 0


def sample(rng, count, split):
    """`count` lists of the given split, drawn with the paper's rejection rule."""
    out = []
    while len(out) < count:
        draws = rng.integers(0, DIGITS, size=(4 * count, LENGTH))
        coin = rng.random(4 * count) < 0.5
        for row, flip in zip(draws, coin):
            if flip and len(set(row.tolist())) > LENGTH // 2:
                continue
            if is_test(row) == (split == "test"):
                out.append(row)
                if len(out) == count:
                    break
    return np.stack(out)


def solve(lists, task):
    return np.sort(lists, axis=1) if task == "ascending" else -np.sort(-lists, axis=1)


def batch(lists, task, prefix):
    full = np.concatenate([np.zeros((len(lists), prefix), dtype=np.int64), lists, solve(lists, task)], axis=1)
    x, y = torch.from_numpy(full[:, :-1].copy()), torch.from_numpy(full[:, 1:].copy())
    y[:, : LENGTH + prefix - 1] = -1
    return x, y


def train(model, task, steps, rng, prefix, label, eval_every=0, trajectory=None):
    optimizer = adamw(model)
    model.train()
    start, smoothed = time.time(), None
    for step in range(1, steps + 1):
        x, y = batch(sample(rng, 64, "train"), task, prefix)
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, VOCAB), y.view(-1), ignore_index=-1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        smoothed = loss.item() if smoothed is None else 0.99 * smoothed + 0.01 * loss.item()
        if step % 2000 == 0 or step == steps:
            rate = step / (time.time() - start)
            print(f"{label} {step}/{steps} loss {smoothed:.4f} {rate:.0f} steps/s ETA {(steps - step) / rate:.0f}s", flush=True)
        if eval_every and step % eval_every == 0:
            # The same 800 test lists each time, so the points differ only by the model.
            trajectory.append([step, round(float(accuracy(model, task, np.random.default_rng(30_000), prefix, 800)), 4), round(smoothed, 4)])
            model.train()
    return smoothed


@torch.no_grad()
def accuracy(model, task, rng, prefix, samples=3200):
    model.eval()
    lists = sample(rng, samples, "test")
    correct = 0
    for begin in range(0, samples, 400):
        chunk = lists[begin:begin + 400]
        seq = torch.from_numpy(np.concatenate([np.zeros((len(chunk), prefix), dtype=np.int64), chunk], axis=1))
        for _ in range(LENGTH):
            seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], dim=1)
        correct += (seq[:, -LENGTH:].numpy() == solve(chunk, task)).all(axis=1).sum()
    return correct / samples


def write_logs(result, directory):
    """The curves as JSON-lines logs in PrefixLab's format, so `prefixlab curves` draws them beside its own runs."""
    import os
    os.makedirs(directory, exist_ok=True)
    for phase, task in (("pretrain", "ascending"), ("finetune", "descending")):
        with open(os.path.join(directory, f"pytorch-s{result['seed']}-{phase}.log.jsonl"), "w") as log:
            for step, acc, *loss in result[f"{phase}_curve"]:
                # Curves recorded before the loss was kept with them have no loss.
                record = {"step": step, **({"loss": loss[0]} if loss else {})}
                log.write(json.dumps({**record, "eval": {"task": task, "samples": 800, "correct": round(acc * 800), "accuracy": acc}}) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--pretrain", type=int, default=20000)
    parser.add_argument("--finetune", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-every", type=int, default=0, help="also record accuracy on 800 test lists every N steps")
    parser.add_argument("--log-dir", help="write the curves as PrefixLab logs (pytorch-sS-pretrain.log.jsonl, ...) here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    prefix = 1
    model = Gpt(VOCAB, 2 * LENGTH - 1 + prefix, layers=1, heads=1, width=96)
    began = time.time()
    result = {"seed": args.seed, "torch": torch.__version__}
    result["pretrain_curve"], result["finetune_curve"] = [], []
    result["pretrain_loss"] = train(model, "ascending", args.pretrain, rng, prefix, f"seed {args.seed} pretrain", args.eval_every, result["pretrain_curve"])
    result["pretrained_ascending"] = accuracy(model, "ascending", np.random.default_rng(10_000 + args.seed), prefix)
    result["pretrained_descending"] = accuracy(model, "descending", np.random.default_rng(20_000 + args.seed), prefix)
    result["finetune_loss"] = train(model, "descending", args.finetune, rng, prefix, f"seed {args.seed} finetune", args.eval_every, result["finetune_curve"])
    result["finetuned_descending"] = accuracy(model, "descending", np.random.default_rng(20_000 + args.seed), prefix)
    result["finetuned_ascending"] = accuracy(model, "ascending", np.random.default_rng(10_000 + args.seed), prefix)
    result["seconds"] = round(time.time() - began)
    result = {k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v) for k, v in result.items()}
    print(json.dumps(result), flush=True)
    if args.log_dir:
        write_logs(result, args.log_dir)


if __name__ == "__main__":
    main()

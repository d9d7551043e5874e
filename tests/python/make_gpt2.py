#!/usr/bin/env python3
"""An independent second implementation of GPT-2 for PrefixLab's interoperability tests.

It writes a random GPT-2 checkpoint in the Hugging Face layout (config.json, safetensors with
Conv1D weights stored [in, out], optionally sharded with an index, vocab.json + merges.txt of a
small byte-level BPE learned here) with reference outputs computed by its own GPT-2 forward pass in
float64, and PEFT-layout adapters (LoRA, LoRA with rank_pattern/alpha_pattern, prefix tuning, prompt
tuning). With --bin the same weights and adapters go to torch.save's pytorch_model.bin and
adapter_model.bin instead, as older transformers and PEFT wrote them. `logits` reads a checkpoint and an optional PEFT adapter (for instance one PrefixLab wrote) and
prints the logits and a greedy continuation, so both directions are checked; it checks the layout as
transformers' GPT2LMHeadModel would. `views` and `evil` write torch.save files for the pickle reader's
tests; `torch-load` loads a file with torch.load as PyTorch's users do (which runs whatever its pickle says).

Positions follow transformers: with P past_key_values (prefix tuning) GPT2Model numbers the tokens
P ... P+T-1; with prompt tuning the P virtual tokens are input embeddings at positions 0 ... P-1 and the
tokens follow at P ... P+T-1. Logits are those of the T tokens.

Needs only torch (Debian's python3-torch); the BPE code is written out here, the safetensors code in
safetensors_io.py beside it.

  make_gpt2.py make OUT [--layers 2 --heads 2 --width 32 --positions 64 --vocab 300 --shards 1 --bin ...]
  make_gpt2.py logits MODEL_DIR --tokens "1 2 3" [--adapter PEFT_DIR] [--greedy N]
  make_gpt2.py views OUT.bin OUT.safetensors
  make_gpt2.py evil OUT.bin --run "touch MARKER"
  make_gpt2.py torch-load FILE
"""
import argparse
import collections
import json
import math
import os
import re

import torch

from safetensors_io import read_safetensors, write_safetensors

CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
CORPUS = ("the quick brown fox jumps over the lazy dog. she sells sea shells by the sea shore; "
          "I love transformers! they're learning to sort lists: 1 2 3 4 5 and 42. "
          "joy anger sadness fear surprise love. the cat sat on the mat and the dog sat on the log. ") * 3
# GPT-2's pre-tokenisation pattern with \p{L} and \p{N} narrowed to ASCII (the re module has no
# Unicode classes); the test texts are ASCII, where both agree.
PATTERN = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


# ---------------------------------------------------------------- byte-level BPE
def bytes_to_unicode():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, n = keep[:], 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(keep, map(chr, chars)))


BYTE = bytes_to_unicode()


def words(text):
    return ["".join(BYTE[b] for b in w.encode("utf-8")) for w in PATTERN.findall(text)]


def learn_merges(count):
    corpus = [list(w) for w in words(CORPUS)]
    merges = []
    for _ in range(count):
        pairs = {}
        for w in corpus:
            for p in zip(w, w[1:]):
                pairs[p] = pairs.get(p, 0) + 1
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        for w in corpus:
            i = 0
            while i < len(w) - 1:
                if (w[i], w[i + 1]) == best:
                    w[i:i + 2] = [w[i] + w[i + 1]]
                i += 1
    return merges


def bpe(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get(p, math.inf), i) for i, p in enumerate(zip(parts, parts[1:]))]
        rank, _ = min(pairs)
        if rank == math.inf:
            break
        target = [p for p in zip(parts, parts[1:]) if ranks.get(p) == rank][0]
        merged, i = [], 0
        while i < len(parts):
            if i < len(parts) - 1 and (parts[i], parts[i + 1]) == target:
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts = merged
    return parts


def encode(text, vocab, merges):
    ranks = {m: i for i, m in enumerate(merges)}
    return [vocab[p] for w in words(text) for p in bpe(w, ranks)]


def make_vocab(merges, size):
    tokens = list(BYTE.values()) + [a + b for a, b in merges]
    tokens = list(dict.fromkeys(tokens))
    while len(tokens) < size - 1:
        tokens.append(f"<|unused_{len(tokens)}|>")  # ids the model has but the BPE never makes
    tokens = tokens[:size - 1] + ["<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}


# ---------------------------------------------------------------- GPT-2, written out
def read_weights(path):
    return read_safetensors(path) if path.endswith(".safetensors") else torch.load(path, map_location="cpu")


def load_model(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors" if os.path.exists(os.path.join(directory, "model.safetensors")) else "pytorch_model.bin"]
    w = {}
    for name in files:
        for k, t in read_weights(os.path.join(directory, name)).items():
            w[k[len("transformer."):] if k.startswith("transformer.") else k] = t.double()
    check_layout(config, w)
    return config, w


def check_layout(config, w):
    """What GPT2LMHeadModel.from_pretrained demands: every weight, in its Conv1D shape, nothing else."""
    e, n, v, inner = config["n_embd"], config["n_positions"], config["vocab_size"], config.get("n_inner") or 4 * config["n_embd"]
    expected = {"wte.weight": (v, e), "wpe.weight": (n, e), "ln_f.weight": (e,), "ln_f.bias": (e,)}
    for i in range(config["n_layer"]):
        p = f"h.{i}."
        expected |= {p + "ln_1.weight": (e,), p + "ln_1.bias": (e,), p + "attn.c_attn.weight": (e, 3 * e),
                     p + "attn.c_attn.bias": (3 * e,), p + "attn.c_proj.weight": (e, e), p + "attn.c_proj.bias": (e,),
                     p + "ln_2.weight": (e,), p + "ln_2.bias": (e,), p + "mlp.c_fc.weight": (e, inner),
                     p + "mlp.c_fc.bias": (inner,), p + "mlp.c_proj.weight": (inner, e), p + "mlp.c_proj.bias": (e,)}
    if not config.get("tie_word_embeddings", True):
        expected["lm_head.weight"] = (v, e)
    ignored = lambda k: k.endswith((".attn.bias", ".attn.masked_bias")) or k == "lm_head.weight"
    missing = [k for k in expected if k not in w]
    unexpected = [k for k in w if k not in expected and not ignored(k)]
    wrong = [k for k in expected if k in w and tuple(w[k].shape) != expected[k]]
    assert not (missing or unexpected or wrong), f"not a GPT-2 of this config: missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]}"


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def conv1d(x, w, b, name, lora, ia3):
    if name in ia3 and ia3[name][1]:  # IA3 on a feedforward module: its input times the vector
        x = x * ia3[name][0]
    out = x @ w + b  # GPT-2's Conv1D: weight [in, out]
    if name in lora:
        a, bb, scale = lora[name]
        out = out + (x @ a.T) @ bb.T * scale
    if name in ia3 and not ia3[name][1]:  # IA3 on any other module: its output (bias included) times the vector
        out = out * ia3[name][0]
    return out


def forward(config, w, ids, lora=None, prefix=None, prompt=None, ia3=None):
    """Logits [T, vocab] of one token list's T tokens.

    prefix: per layer (keys, values) [heads, P, head_dim], given as past_key_values;
    prompt: [P, width] virtual-token input embeddings in front of the tokens (prompt tuning);
    ia3: module -> (vector, feedforward) of IA3 (Liu et al. 2022)."""
    lora = lora or {}
    ia3 = ia3 or {}
    heads, width = config["n_head"], config["n_embd"]
    d = width // heads
    # transformers' rule (GPT2Model.forward): with past_key_values of length P, position_ids are
    # arange(P, P + T), so the tokens follow the prefix.
    past = prefix[0][0].shape[1] if prefix is not None else 0
    x = w["wte.weight"][ids]
    virtual = 0
    if prompt is not None:  # PEFT: cat(prompt, embeddings) as inputs_embeds, then the model adds positions
        virtual = prompt.shape[0]
        x = torch.cat([prompt, x], 0)
    t = x.shape[0]
    x = x + w["wpe.weight"][past:past + t]
    for l in range(config["n_layer"]):
        p = f"h.{l}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        qkv = conv1d(h, w[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"], p + "attn.c_attn", lora, ia3)
        q, k, v = (qkv[:, i * width:(i + 1) * width].reshape(t, heads, d).transpose(0, 1) for i in range(3))
        extra = 0
        if prefix is not None:
            pk, pv = prefix[l]
            extra = pk.shape[1]
            k, v = torch.cat([pk, k], 1), torch.cat([pv, v], 1)
        scores = q @ k.transpose(1, 2) / math.sqrt(d)
        mask = torch.ones(t, t + extra, dtype=torch.bool).triu(extra + 1)
        att = torch.softmax(scores.masked_fill(mask, -math.inf), -1)
        z = (att @ v).transpose(0, 1).reshape(t, width)
        x = x + conv1d(z, w[p + "attn.c_proj.weight"], w[p + "attn.c_proj.bias"], p + "attn.c_proj", lora, ia3)
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        h = gelu_new(conv1d(h, w[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"], p + "mlp.c_fc", lora, ia3))
        x = x + conv1d(h, w[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"], p + "mlp.c_proj", lora, ia3)
    head = w.get("lm_head.weight", w["wte.weight"])
    return (layer_norm(x, w["ln_f.weight"], w["ln_f.bias"]) @ head.T)[virtual:]


def greedy(config, w, ids, count, **adapter):
    ids, margins = list(ids), []
    for _ in range(count):
        logits = forward(config, w, ids, **adapter)[-1]
        top = torch.topk(logits, 2).values
        margins.append(float(top[0] - top[1]))
        ids.append(int(logits.argmax()))
    return ids[-count:], min(margins)


# ---------------------------------------------------------------- PEFT adapters
def pattern_value(pattern, module, default):
    """PEFT's per-layer rank/alpha rule: the first key that matches the end of the name at a dot boundary."""
    for key, value in pattern.items():
        if re.match(r"(.*\.)?(" + key + r")$", module):
            return value
    return default


def load_adapter(directory, config):
    with open(os.path.join(directory, "adapter_config.json")) as f:
        ac = json.load(f)
    weights = os.path.join(directory, "adapter_model.safetensors")
    weights = weights if os.path.exists(weights) else os.path.join(directory, "adapter_model.bin")
    tensors = {k: t.double() for k, t in read_weights(weights).items()}
    if ac["peft_type"] == "LORA":
        lora = {}
        for k, a in tensors.items():
            if k.endswith(".lora_A.weight"):
                full = k[len("base_model.model."):-len(".lora_A.weight")]
                r = pattern_value(ac.get("rank_pattern") or {}, full, ac["r"])
                alpha = pattern_value(ac.get("alpha_pattern") or {}, full, ac["lora_alpha"])
                assert a.shape[0] == r, (k, a.shape, r)
                module = full[len("transformer."):] if full.startswith("transformer.") else full
                lora[module] = (a, tensors[k.replace("lora_A", "lora_B")], alpha / r)
        return {"lora": lora}
    if ac["peft_type"] == "IA3":
        # PEFT's IA3Config: a module is a target when its name ends with a target_modules entry, and a
        # feedforward one when it ends with a feedforward_modules entry; ia3_l is [out, 1] or [1, in].
        targets, feedforward = ac["target_modules"], ac.get("feedforward_modules") or []
        ia3 = {}
        for k, vector in tensors.items():
            full = k[len("base_model.model."):-len(".ia3_l")]
            module = full[len("transformer."):] if full.startswith("transformer.") else full
            assert any(module == t or module.endswith("." + t) for t in targets), (module, targets)
            ff = any(module == t or module.endswith("." + t) for t in feedforward)
            assert vector.shape[0 if ff else 1] == 1, (k, vector.shape, ff)
            ia3[module] = (vector.flatten(), ff)
        return {"ia3": ia3}
    if ac["peft_type"] == "PROMPT_TUNING":
        emb = tensors["prompt_embeddings"]
        assert list(emb.shape) == [ac["num_virtual_tokens"], config["n_embd"]], emb.shape
        return {"prompt": emb}
    assert ac["peft_type"] == "PREFIX_TUNING", ac["peft_type"]
    emb = tensors["prompt_embeddings"]
    layers, heads = ac["num_layers"], ac["num_attention_heads"]
    p, d = ac["num_virtual_tokens"], ac["token_dim"] // heads
    # PEFT: view(P, layers * 2, heads, d).permute(1, 2, 0, 3); layer l's keys are row 2l, values 2l + 1
    kv = emb.view(p, layers * 2, heads, d).permute(1, 2, 0, 3)
    return {"prefix": [(kv[2 * l], kv[2 * l + 1]) for l in range(layers)]}


def save_weights(directory, stem, tensors, pickled):
    if pickled:
        torch.save(tensors, os.path.join(directory, stem + ".bin"))
    else:
        write_safetensors(os.path.join(directory, stem + ".safetensors"), tensors)


def write_lora(directory, out, config, gen, r, alpha, pickled, rank_pattern=None, alpha_pattern=None):
    width, layers = config["n_embd"], config["n_layer"]
    os.makedirs(directory, exist_ok=True)
    tensors = {}
    for l in range(layers):
        for module, (i, o) in (("attn.c_attn", (width, 3 * width)), ("mlp.c_fc", (width, 4 * width))):
            key = f"base_model.model.transformer.h.{l}.{module}"
            rank = pattern_value(rank_pattern or {}, key[len("base_model.model."):], r)
            tensors[key + ".lora_A.weight"] = torch.randn(rank, i, generator=gen) * 0.3
            tensors[key + ".lora_B.weight"] = torch.randn(o, rank, generator=gen) * 0.3
    save_weights(directory, "adapter_model", tensors, pickled)
    json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
               "target_modules": ["c_attn", "c_fc"], "fan_in_fan_out": True, "bias": "none", "inference_mode": True,
               "rank_pattern": rank_pattern or {}, "alpha_pattern": alpha_pattern or {},
               "base_model_name_or_path": out}, open(os.path.join(directory, "adapter_config.json"), "w"), indent=2)


def write_adapters(out, config, gen, pickled):
    width, layers, heads = config["n_embd"], config["n_layer"], config["n_head"]
    lora_dir, prefix_dir = os.path.join(out, "peft_lora"), os.path.join(out, "peft_prefix")
    pattern_dir, prompt_dir = os.path.join(out, "peft_lora_pattern"), os.path.join(out, "peft_prompt")
    os.makedirs(prefix_dir, exist_ok=True)
    os.makedirs(prompt_dir, exist_ok=True)
    write_lora(lora_dir, out, config, gen, 2, 4, pickled)
    # Layer 1's c_fc gets rank 3 by its full name, every c_attn alpha 6 by a suffix pattern.
    write_lora(pattern_dir, out, config, gen, 2, 4, pickled, {"transformer.h.1.mlp.c_fc": 3}, {"c_attn": 6})
    p = 3
    save_weights(prefix_dir, "adapter_model", {"prompt_embeddings": torch.randn(p, layers * 2 * width, generator=gen)}, pickled)
    json.dump({"peft_type": "PREFIX_TUNING", "task_type": "CAUSAL_LM", "num_virtual_tokens": p, "token_dim": width,
               "num_transformer_submodules": 1, "num_attention_heads": heads, "num_layers": layers,
               "prefix_projection": False, "inference_mode": True, "base_model_name_or_path": out},
              open(os.path.join(prefix_dir, "adapter_config.json"), "w"), indent=2)
    p = 4  # virtual tokens of the scale of the token embeddings
    save_weights(prompt_dir, "adapter_model", {"prompt_embeddings": torch.randn(p, width, generator=gen) * 0.5}, pickled)
    json.dump({"peft_type": "PROMPT_TUNING", "task_type": "CAUSAL_LM", "num_virtual_tokens": p, "token_dim": width,
               "num_transformer_submodules": 1, "num_attention_heads": heads, "num_layers": layers,
               "prompt_tuning_init": "RANDOM", "inference_mode": True, "base_model_name_or_path": out},
              open(os.path.join(prompt_dir, "adapter_config.json"), "w"), indent=2)
    # IA3 with PEFT's GPT-2 defaults: c_attn's output [3 · width, 1], mlp.c_proj's input [1, 4 · width].
    ia3_dir = os.path.join(out, "peft_ia3")
    os.makedirs(ia3_dir, exist_ok=True)
    tensors = {}
    for l in range(layers):
        tensors[f"base_model.model.transformer.h.{l}.attn.c_attn.ia3_l"] = 1 + 0.3 * torch.randn(3 * width, 1, generator=gen)
        tensors[f"base_model.model.transformer.h.{l}.mlp.c_proj.ia3_l"] = 1 + 0.3 * torch.randn(1, 4 * width, generator=gen)
    save_weights(ia3_dir, "adapter_model", tensors, pickled)
    json.dump({"peft_type": "IA3", "task_type": "CAUSAL_LM", "target_modules": ["c_attn", "mlp.c_proj"],
               "feedforward_modules": ["mlp.c_proj"], "fan_in_fan_out": True, "init_ia3_weights": True,
               "inference_mode": True, "base_model_name_or_path": out},
              open(os.path.join(ia3_dir, "adapter_config.json"), "w"), indent=2)
    return {"peft_lora": lora_dir, "peft_lora_pattern": pattern_dir, "peft_prefix": prefix_dir, "peft_prompt": prompt_dir,
            "peft_ia3": ia3_dir}


# ---------------------------------------------------------------- commands
def make(a):
    os.makedirs(a.out, exist_ok=True)
    gen = torch.Generator().manual_seed(a.seed)
    e, l, v, n = a.width, a.layers, a.vocab, a.positions
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": v, "n_positions": n,
              "n_ctx": n, "n_embd": e, "n_layer": l, "n_head": a.heads, "n_inner": None,
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "resid_pdrop": 0.1, "embd_pdrop": 0.1,
              "attn_pdrop": 0.1, "scale_attn_weights": True, "tie_word_embeddings": True,
              "bos_token_id": v - 1, "eos_token_id": v - 1}
    json.dump(config, open(os.path.join(a.out, "config.json"), "w"), indent=2)

    def rnd(*shape, std=a.std):
        return torch.randn(*shape, generator=gen) * std

    w = {"wte.weight": rnd(v, e), "wpe.weight": rnd(n, e)}
    for i in range(l):
        p = f"h.{i}."
        w |= {p + "ln_1.weight": 1 + rnd(e), p + "ln_1.bias": rnd(e), p + "attn.c_attn.weight": rnd(e, 3 * e),
              p + "attn.c_attn.bias": rnd(3 * e), p + "attn.c_proj.weight": rnd(e, e), p + "attn.c_proj.bias": rnd(e),
              p + "ln_2.weight": 1 + rnd(e), p + "ln_2.bias": rnd(e), p + "mlp.c_fc.weight": rnd(e, 4 * e),
              p + "mlp.c_fc.bias": rnd(4 * e), p + "mlp.c_proj.weight": rnd(4 * e, e), p + "mlp.c_proj.bias": rnd(e)}
        if a.buffers:  # older GPT-2 files carry the causal-mask buffers, which loaders must skip
            w[p + "attn.bias"] = torch.ones(1, 1, n, n).tril()
            w[p + "attn.masked_bias"] = torch.tensor(-1e4)
    w |= {"ln_f.weight": 1 + rnd(e), "ln_f.bias": rnd(e)}
    dtype = torch.float16 if a.f16 else torch.float32
    stored = {("" if a.bare else "transformer.") + k: t.to(dtype) for k, t in w.items()}
    if a.lm_head:  # torch.save keeps a tied head as a second view of the embedding's storage, as HF's files have it
        wte = stored[("" if a.bare else "transformer.") + "wte.weight"]
        stored["lm_head.weight"] = wte if a.bin else wte.clone()
    names = list(stored)
    if a.bin:
        assert a.shards == 1, "--bin writes one pytorch_model.bin"
        torch.save(stored, os.path.join(a.out, "pytorch_model.bin"))
    elif a.shards > 1:
        size = math.ceil(len(names) / a.shards)
        index = {"metadata": {}, "weight_map": {}}
        for s in range(a.shards):
            file = f"model-{s + 1:05d}-of-{a.shards:05d}.safetensors"
            part = names[s * size:(s + 1) * size]
            write_safetensors(os.path.join(a.out, file), {k: stored[k] for k in part})
            index["weight_map"] |= {k: file for k in part}
        json.dump(index, open(os.path.join(a.out, "model.safetensors.index.json"), "w"), indent=2)
    else:
        write_safetensors(os.path.join(a.out, "model.safetensors"), stored)

    merges = learn_merges(a.merges)
    vocab = make_vocab(merges, v)
    json.dump(vocab, open(os.path.join(a.out, "vocab.json"), "w"), ensure_ascii=False)
    with open(os.path.join(a.out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{x} {y}\n" for x, y in merges))
    if a.no_reference:
        return

    config, w = load_model(a.out)  # the reference reads back what it wrote, as any loader would
    texts = ["the quick brown fox", "I love transformers!", "she sells 42 sea shells", "TEXT: joy EMOTION:"]
    reference = {"tokenize": [{"text": t, "ids": encode(t, vocab, merges)} for t in texts]}
    sequences = [[int(i) for i in torch.randint(0, v, (k,), generator=gen)] for k in (1, 5, 12)]
    reference["logits"] = [{"ids": s, "logits": forward(config, w, s).flatten().tolist()} for s in sequences]
    greedy_cases = []
    for s in sequences + [r["ids"] for r in reference["tokenize"]]:
        new, margin = greedy(config, w, s, a.new_tokens)
        greedy_cases.append({"ids": s, "new": new, "margin": margin})
    reference["greedy"] = greedy_cases
    for name, directory in write_adapters(a.out, config, gen, a.bin).items():
        adapter = load_adapter(directory, config)
        reference[name] = []
        for s in sequences:
            new, margin = greedy(config, w, s, a.new_tokens, **adapter)
            reference[name].append({"ids": s, "logits": forward(config, w, s, **adapter).flatten().tolist(),
                                    "new": new, "margin": margin})
    json.dump(reference, open(os.path.join(a.out, "reference.json"), "w"))


def logits(a):
    config, w = load_model(a.model)
    adapter = load_adapter(a.adapter, config) if a.adapter else {}
    ids = [int(t) for t in a.tokens.split()]
    new, margin = greedy(config, w, ids, a.greedy, **adapter) if a.greedy > 0 else ([], math.inf)
    print(json.dumps({"logits": forward(config, w, ids, **adapter).flatten().tolist(), "new": new,
                      "margin": margin if a.greedy > 0 else None}))


def views(a):
    """Tensors that share storages through views (transposed, sliced, offset) in several dtypes, saved
    both by torch.save and, each made contiguous, as safetensors: a reader must give the same values."""
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(6, 5, generator=gen)
    half = torch.randn(4, 3, generator=gen).half()
    tensors = {"base": base, "transposed": base.t(), "row": base[2], "column": base[:, 3], "block": base[1:4, 2:],
               "half": half, "half_t": half.t(), "bf16": torch.randn(7, generator=gen).bfloat16(),
               "f64": torch.randn(2, 2, generator=gen).double(), "ids": torch.arange(5), "scalar": torch.tensor(2.5),
               "empty": torch.zeros(0, 3)}
    torch.save(collections.OrderedDict(tensors), a.out)
    write_safetensors(a.safetensors, {k: t.contiguous() for k, t in tensors.items()})


class Payload:
    """An object whose unpickling runs a shell command: what a malicious checkpoint carries."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def evil(a):
    torch.save({"transformer.wte.weight": torch.zeros(2, 2), "payload": Payload(a.shell)}, a.out)


def torch_load(a):
    torch.load(a.file)


def add_logits_command(sub):
    """`logits MODEL --tokens "1 2 3" [--adapter PEFT_DIR] [--greedy N]`, the same for every reference model."""
    lg = sub.add_parser("logits")
    lg.add_argument("model")
    lg.add_argument("--tokens", required=True)
    lg.add_argument("--adapter")
    lg.add_argument("--greedy", type=int, default=0, help="also continue greedily by this many tokens")
    return lg


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    for name, default in (("layers", 2), ("heads", 2), ("width", 32), ("positions", 64), ("vocab", 300),
                          ("shards", 1), ("seed", 0), ("merges", 40), ("new_tokens", 8)):
        m.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    m.add_argument("--std", type=float, default=0.2, help="weight scale: large enough that greedy choices are clear")
    m.add_argument("--bare", action="store_true", help="names without the 'transformer.' prefix")
    m.add_argument("--buffers", action="store_true", help="include attn.bias / attn.masked_bias buffers")
    m.add_argument("--lm-head", action="store_true", help="store the tied lm_head.weight too")
    m.add_argument("--f16", action="store_true", help="store the weights as float16")
    m.add_argument("--no-reference", action="store_true", help="only the checkpoint (for big models)")
    m.add_argument("--bin", action="store_true", help="torch.save's pytorch_model.bin and adapter_model.bin, not safetensors")
    add_logits_command(sub)
    vw = sub.add_parser("views")
    vw.add_argument("out")
    vw.add_argument("safetensors")
    ev = sub.add_parser("evil")
    ev.add_argument("out")
    ev.add_argument("--run", dest="shell", required=True)
    tl = sub.add_parser("torch-load")
    tl.add_argument("file")
    a = parser.parse_args()
    {"make": make, "logits": logits, "views": views, "evil": evil, "torch-load": torch_load}[a.command](a)


if __name__ == "__main__":
    main()

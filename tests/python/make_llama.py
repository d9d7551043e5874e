#!/usr/bin/env python3
"""An independent second implementation of the Llama family for PrefixLab's interoperability tests.

`make` writes a random Llama, Mistral or Qwen2 checkpoint in the Hugging Face layout (config.json as
transformers writes it for the model_type, model.safetensors or shards with an index), PEFT adapters for
it in OUT/peft/{lora,ia3,prefix,prompt}/, and OUT/reference.json: logits of a few token rows computed in
float64 (from the stored weights converted to float64) and greedy continuations computed with a KV cache,
for the base model and under each adapter. `logits` reads a checkpoint and an optional PEFT adapter (for
instance one PrefixLab wrote) and prints the logits and a greedy continuation, so both directions are
checked. `selfcheck` tests this implementation against itself and a scalar hand computation. The model
is in llama_ref.py; needs only torch (Debian's python3-torch).

  make_llama.py make OUT [--model-type llama|mistral|qwen2] [--layers 2 --heads 4 --kv-heads 2 --width 64
      --head-dim D --mlp 96 --vocab 300 --positions 128 --rope-theta 10000 --rope-scaling none|linear|llama3
      --rope-factor 2 --rope-original N --rms-norm-eps E --bias --tied --shards N --dtype f32|f16|bf16
      --sliding-window W --seed 0 --std 0.2 --new-tokens 8 --no-reference]
  make_llama.py logits DIR --tokens "1 2 3" [--adapter PEFT_DIR] [--greedy N] [--dtype f64|f32|bf16]
      prints {"shape": [T, vocab], "logits": T·vocab row-major, "continuation": N ids, "margin"}
  make_llama.py selfcheck

reference.json: {"logits": [{"ids", "shape": [T, vocab], "logits": T·vocab row-major}], "greedy": [{"ids",
"new", "margin"}], "peft_lora" / "peft_ia3" / "peft_prefix" / "peft_prompt": [{"ids", "shape", "logits",
"new", "margin"}]} with the adapter in OUT/peft/lora etc.; margin is the smallest gap between the best and
second logit along the continuation.
"""
import argparse
import json
import os

import torch

from llama_ref import Config, Llama, load_adapter
from make_gpt2 import add_logits_command
from safetensors_io import nbytes, write_safetensors

STORED = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
COMPUTE = {"f64": torch.float64, "f32": torch.float32, "bf16": torch.bfloat16}
TORCH_DTYPE = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}
# PEFT's defaults (utils/constants.py): TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING,
# ..._IA3_TARGET_MODULES_MAPPING and ..._IA3_FEEDFORWARD_MODULES_MAPPING for these model types.
LORA_TARGETS = ["q_proj", "v_proj"]
IA3_TARGETS = {"llama": ["k_proj", "v_proj", "down_proj"], "mistral": ["k_proj", "v_proj", "down_proj"],
               "qwen2": ["q_proj", "v_proj", "down_proj"]}
IA3_FEEDFORWARD = ["down_proj"]


def hf_config(a):
    """config.json as transformers' LlamaConfig / MistralConfig / Qwen2Config save it (4.4x layout)."""
    t, v = a.model_type, a.vocab
    c = {"architectures": [ARCHITECTURES[t]], "attention_dropout": 0.0, "bos_token_id": 1 if t != "qwen2" else v - 1,
         "eos_token_id": 2 if t != "qwen2" else v - 1, "hidden_act": "silu", "hidden_size": a.width,
         "initializer_range": 0.02, "intermediate_size": a.mlp, "max_position_embeddings": a.positions,
         "model_type": t, "num_attention_heads": a.heads, "num_hidden_layers": a.layers,
         "num_key_value_heads": a.kv_heads, "rms_norm_eps": a.rms_norm_eps or (1e-5 if t == "mistral" else 1e-6),
         "rope_theta": a.rope_theta, "tie_word_embeddings": a.tied, "torch_dtype": TORCH_DTYPE[a.dtype],
         "transformers_version": "4.46.3", "use_cache": True, "vocab_size": v}
    if a.head_dim:
        c["head_dim"] = a.head_dim
    scaling = None
    if a.rope_scaling == "linear":
        scaling = {"factor": a.rope_factor, "rope_type": "linear"}
    elif a.rope_scaling == "llama3":
        # Llama 3.1's band factors; the original context is the positions, so that with the default
        # head_dim 16 the short wavelengths stay, the middle one blends and the long ones are slowed.
        scaling = {"factor": a.rope_factor, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": a.rope_original or a.positions, "rope_type": "llama3"}
    assert a.sliding_window is None or t == "mistral", "--sliding-window is Mistral's"
    assert a.head_dim or a.width % a.heads == 0, f"width {a.width} is not a multiple of {a.heads} heads: give --head-dim"
    if t == "llama":
        c |= {"attention_bias": a.bias, "mlp_bias": False, "pretraining_tp": 1, "rope_scaling": scaling}
    elif t == "mistral":
        assert not a.bias, "Mistral has no attention bias"
        c["sliding_window"] = a.sliding_window
        if scaling:
            c["rope_scaling"] = scaling
    else:
        # As Qwen2 and Qwen2.5 ship: a sliding_window that use_sliding_window false switches off.
        c |= {"max_window_layers": a.layers, "rope_scaling": scaling, "sliding_window": a.positions, "use_sliding_window": False}
    return dict(sorted(c.items()))


def weight_specs(config, dtype, gen, std):
    """name -> (dtype, shape, producer) in HF's order; producers draw from `gen` in that order, so the
    weights are the same whether written to one file or to shards."""
    def random(shape, offset):
        return lambda: torch.randn(*shape, generator=gen).mul_(std).add_(offset).to(dtype)  # in place: one copy in memory
    specs = {}
    for name, shape in config.expected_shapes().items():
        norm = name.endswith("norm.weight")  # RMSNorm gains around 1, not around 0
        specs[name] = (dtype, shape, random(shape, 1.0 if norm else 0.0))
    return specs


def write_checkpoint(out, specs, shards):
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), specs)
        return
    sizes = {k: nbytes(d, s) for k, (d, s, _) in specs.items()}
    total, names = sum(sizes.values()), list(specs)
    groups, done = [[] for _ in range(shards)], 0
    for k in names:  # contiguous groups of about equal bytes
        groups[min(shards - 1, done * shards // total)].append(k)
        done += sizes[k]
    assert all(groups), f"{shards} shards for {len(names)} tensors"
    index = {"metadata": {"total_size": total}, "weight_map": {}}
    for s, group in enumerate(groups):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(out, file), {k: specs[k] for k in group})
        index["weight_map"] |= {k: file for k in group}
    json.dump(index, open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)


def write_adapter(directory, adapter_config, tensors):
    os.makedirs(directory, exist_ok=True)
    write_safetensors(os.path.join(directory, "adapter_model.safetensors"), tensors)
    json.dump(adapter_config, open(os.path.join(directory, "adapter_config.json"), "w"), indent=2)


def peft_base(out):
    return {"task_type": "CAUSAL_LM", "inference_mode": True, "base_model_name_or_path": out, "revision": None}


def write_prefix(directory, out, c, embeddings):
    """Prefix tuning's [P, layers * 2 * kv_heads * head_dim] vectors, sized as PEFT sizes them for a
    grouped-query model (see load_adapter in llama_ref.py)."""
    token_dim = c.kv_heads * c.head_dim
    write_adapter(directory, peft_base(out) | {"peft_type": "PREFIX_TUNING", "num_virtual_tokens": embeddings.shape[0],
                                               "token_dim": token_dim, "num_transformer_submodules": 1,
                                               "num_attention_heads": c.kv_heads, "num_layers": c.layers,
                                               "encoder_hidden_size": token_dim, "prefix_projection": False},
                  {"prompt_embeddings": embeddings})


def write_prompt(directory, out, c, embeddings):
    write_adapter(directory, peft_base(out) | {"peft_type": "PROMPT_TUNING", "num_virtual_tokens": embeddings.shape[0],
                                               "token_dim": c.width, "num_transformer_submodules": 1,
                                               "num_attention_heads": c.heads, "num_layers": c.layers,
                                               "prompt_tuning_init": "RANDOM"},
                  {"prompt_embeddings": embeddings})


def write_adapters(out, c, gen):
    """PEFT's four prompt/weight methods with random, clearly non-trivial values; name -> folder."""
    base = peft_base(out)
    dirs = {k: os.path.join(out, "peft", k) for k in ("lora", "ia3", "prefix", "prompt")}
    r, alpha, tensors = 2, 4, {}
    for l in range(c.layers):
        for module, (i, o) in (("q_proj", (c.width, c.heads * c.head_dim)), ("v_proj", (c.width, c.kv_heads * c.head_dim))):
            key = f"base_model.model.model.layers.{l}.self_attn.{module}"
            tensors[key + ".lora_A.weight"] = torch.randn(r, i, generator=gen) * 0.3
            tensors[key + ".lora_B.weight"] = torch.randn(o, r, generator=gen) * 0.3
    write_adapter(dirs["lora"], base | {"peft_type": "LORA", "r": r, "lora_alpha": alpha, "lora_dropout": 0.0,
                                        "target_modules": LORA_TARGETS, "fan_in_fan_out": False, "bias": "none",
                                        "use_rslora": False, "rank_pattern": {}, "alpha_pattern": {}}, tensors)
    tensors = {}
    for l in range(c.layers):
        for module in IA3_TARGETS[c.type]:
            name = f"self_attn.{module}" if module != "down_proj" else "mlp.down_proj"
            ff = module in IA3_FEEDFORWARD
            shape = c.expected_shapes()[f"model.layers.{l}.{name}.weight"]
            tensors[f"base_model.model.model.layers.{l}.{name}.ia3_l"] = 1 + 0.3 * torch.randn(*((1, shape[1]) if ff else (shape[0], 1)), generator=gen)
    write_adapter(dirs["ia3"], base | {"peft_type": "IA3", "target_modules": IA3_TARGETS[c.type],
                                       "feedforward_modules": IA3_FEEDFORWARD, "fan_in_fan_out": False,
                                       "init_ia3_weights": True}, tensors)
    p = 3
    write_prefix(dirs["prefix"], out, c, torch.randn(p, c.layers * 2 * c.kv_heads * c.head_dim, generator=gen))
    write_prompt(dirs["prompt"], out, c, torch.randn(4, c.width, generator=gen) * 0.5)
    return dirs


def case(model, ids, new_tokens, adapter=None):
    logits = model.logits(ids, adapter)
    new, margin = model.greedy(ids, new_tokens, adapter)
    return {"ids": ids, "shape": list(logits.shape), "logits": logits.flatten().tolist(), "new": new, "margin": margin}


def make(a):
    config = hf_config(a)
    c = Config(config)
    os.makedirs(a.out, exist_ok=True)
    gen = torch.Generator().manual_seed(a.seed)
    write_checkpoint(a.out, weight_specs(c, STORED[a.dtype], gen, a.std), a.shards)
    json.dump(config, open(os.path.join(a.out, "config.json"), "w"), indent=2)
    if a.no_reference:
        return
    model = Llama.load(a.out)  # the reference reads back what it wrote, as any loader would
    sequences = [[int(i) for i in torch.randint(0, a.vocab, (k,), generator=gen)] for k in (1, 5, 12)]
    reference = {"logits": [], "greedy": []}
    for s in sequences:
        row = case(model, s, a.new_tokens)
        reference["logits"].append({k: row[k] for k in ("ids", "shape", "logits")})
        reference["greedy"].append({k: row[k] for k in ("ids", "new", "margin")})
    for name, directory in write_adapters(a.out, c, gen).items():
        adapter = load_adapter(directory, c)
        reference["peft_" + name] = [case(model, s, a.new_tokens, adapter) for s in sequences]
    json.dump(reference, open(os.path.join(a.out, "reference.json"), "w"))


def logits(a):
    dtype = COMPUTE[a.dtype]
    model = Llama.load(a.model, dtype)
    adapter = load_adapter(a.adapter, model.c, dtype) if a.adapter else {}
    ids = [int(t) for t in a.tokens.split()]
    out = model.logits(ids, adapter).double()
    new, margin = model.greedy(ids, a.greedy, adapter) if a.greedy > 0 else ([], None)
    print(json.dumps({"shape": list(out.shape), "logits": out.flatten().tolist(), "continuation": new, "margin": margin}))


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("--model-type", choices=sorted(ARCHITECTURES), default="llama")
    for name, default in (("layers", 2), ("heads", 4), ("kv_heads", 2), ("width", 64), ("head_dim", None), ("mlp", 96),
                          ("vocab", 300), ("positions", 128), ("shards", 1), ("seed", 0), ("new_tokens", 8),
                          ("sliding_window", None), ("rope_original", None)):
        m.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    m.add_argument("--rope-theta", type=float, default=10000.0)
    m.add_argument("--rope-scaling", choices=["none", "linear", "llama3"], default="none")
    m.add_argument("--rope-factor", type=float, default=2.0)
    m.add_argument("--rms-norm-eps", type=float, default=None, help="default: the model type's (1e-6, Mistral 1e-5)")
    m.add_argument("--bias", action="store_true", help="attention_bias (Llama); Qwen2 always has q/k/v biases")
    m.add_argument("--tied", action="store_true", help="tie_word_embeddings: no lm_head.weight stored")
    m.add_argument("--dtype", choices=sorted(STORED), default="f32", help="stored weight type")
    m.add_argument("--std", type=float, default=0.2, help="weight scale: large enough that greedy choices are clear")
    m.add_argument("--no-reference", action="store_true", help="only the checkpoint (for big models)")
    lg = add_logits_command(sub)
    lg.add_argument("--dtype", choices=sorted(COMPUTE), default="f64",
                    help="compute type: f64 for reference values, f32 or bf16 to see what those reach")
    sub.add_parser("selfcheck")
    return parser


def main():
    parser = build_parser()
    a = parser.parse_args()
    if a.command == "selfcheck":
        from llama_selfcheck import selfcheck
        selfcheck()
        return
    try:
        {"make": make, "logits": logits}[a.command](a)
    except (AssertionError, OSError, KeyError, ValueError, IndexError) as e:  # bad input: one line, exit 2
        parser.exit(2, f"make_llama.py {a.command}: {type(e).__name__}: {e}\n")


if __name__ == "__main__":
    main()

"""The Llama decoder (Llama, Mistral, Qwen2) written from the published architecture, for make_llama.py
and scripts/bench-llama-pytorch.py.

Follows Hugging Face's LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM: RMSNorm with the
config's rms_norm_eps (computed in at least float32, weight applied after casting back), rotary
position embeddings in the rotate_half convention (the first and second halves of each head pair up)
with rope_scaling none, linear (inverse frequencies divided by the factor) or llama3 (the Llama 3.1
wavelength bands), grouped-query attention (query head h reads key/value head h // (heads / kv_heads)),
the SiLU-gated MLP down(silu(gate(x)) * up(x)), optional projection biases, a tied or separate output
head, and Mistral's sliding window (a query at position i sees keys j with i - window < j <= i, as
transformers' sliding_window_overlay). The key/value cache stores the KV heads after RoPE.

PEFT adapters are applied on the fly (never merged): LoRA adds (x A^T) B^T * alpha / r, IA3 scales a
module's output, or a feed-forward module's input; prefix tuning puts the given keys and values into
the cache in front of the tokens, which then take positions P ... P+T-1; prompt tuning puts P input
embeddings in front of the tokens, at positions 0 ... P-1.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from make_gpt2 import pattern_value
from safetensors_io import read_safetensors

PROJECTIONS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
               "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


class Config:
    """The fields of an HF config.json that the forward pass reads, with transformers' defaults."""

    def __init__(self, c):
        assert c.get("model_type") in ("llama", "mistral", "qwen2"), f"model_type {c.get('model_type')!r} is not llama, mistral or qwen2"
        assert c.get("hidden_act", "silu") == "silu", f"hidden_act {c['hidden_act']!r} is not silu"
        self.raw = c
        self.type = c["model_type"]
        self.layers, self.width, self.mlp = c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads") or self.heads
        self.head_dim = c.get("head_dim") or self.width // self.heads
        self.vocab, self.eps = c["vocab_size"], c["rms_norm_eps"]
        self.tied = c.get("tie_word_embeddings", False)
        self.qkv_bias = self.type == "qwen2" or c.get("attention_bias", False)
        self.o_bias = self.type == "llama" and c.get("attention_bias", False)
        self.mlp_bias = c.get("mlp_bias", False)
        window = c.get("sliding_window") if self.type == "mistral" or c.get("use_sliding_window") else None
        self.window = window
        assert self.heads % self.kv_heads == 0, f"{self.heads} heads are not a multiple of {self.kv_heads} KV heads"
        self.inv_freq = inverse_frequencies(self.head_dim, c.get("rope_theta", 10000.0), c.get("rope_scaling"))

    def expected_shapes(self):
        e, h, kv, d, m, v = self.width, self.heads, self.kv_heads, self.head_dim, self.mlp, self.vocab
        out = {"model.embed_tokens.weight": (v, e), "model.norm.weight": (e,)}
        for l in range(self.layers):
            p = f"model.layers.{l}."
            out |= {p + "input_layernorm.weight": (e,), p + "post_attention_layernorm.weight": (e,),
                    p + "self_attn.q_proj.weight": (h * d, e), p + "self_attn.k_proj.weight": (kv * d, e),
                    p + "self_attn.v_proj.weight": (kv * d, e), p + "self_attn.o_proj.weight": (e, h * d),
                    p + "mlp.gate_proj.weight": (m, e), p + "mlp.up_proj.weight": (m, e), p + "mlp.down_proj.weight": (e, m)}
            if self.qkv_bias:
                out |= {p + "self_attn.q_proj.bias": (h * d,), p + "self_attn.k_proj.bias": (kv * d,),
                        p + "self_attn.v_proj.bias": (kv * d,)}
            if self.o_bias:
                out[p + "self_attn.o_proj.bias"] = (e,)
            if self.mlp_bias:
                out |= {p + "mlp.gate_proj.bias": (m,), p + "mlp.up_proj.bias": (m,), p + "mlp.down_proj.bias": (e,)}
        if not self.tied:
            out["lm_head.weight"] = (v, e)
        return out


def inverse_frequencies(head_dim, theta, scaling):
    """RoPE's inverse frequencies in float64, as transformers' ROPE_INIT_FUNCTIONS compute them."""
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / scaling["factor"]
    assert kind == "llama3", f"rope_scaling type {kind!r} is not linear or llama3"
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelength = 2 * math.pi / inv
    # Wavelengths longer than old / low are slowed by the factor, shorter than old / high kept, and
    # the band between interpolates linearly in old / wavelength.
    slowed = torch.where(wavelength > old / low, inv / factor, inv)
    smooth = (old / wavelength - low) / (high - low)
    blended = (1 - smooth) * slowed / factor + smooth * slowed
    medium = (wavelength >= old / high) & (wavelength <= old / low)
    return torch.where(medium, blended, slowed)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


class Llama:
    """A checkpoint folder's config and weights in one dtype; float64 for the reference values."""

    def __init__(self, config, weights, dtype):
        self.c, self.w, self.dtype = config, weights, dtype

    @staticmethod
    def load(directory, dtype=torch.float64):
        with open(os.path.join(directory, "config.json")) as f:
            config = Config(json.load(f))
        index = os.path.join(directory, "model.safetensors.index.json")
        files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
        w = {}
        for name in files:
            w |= read_safetensors(os.path.join(directory, name), dtype)
        expected = config.expected_shapes()
        ignored = lambda k: k.endswith("rotary_emb.inv_freq") or (config.tied and k == "lm_head.weight")
        missing = [k for k in expected if k not in w]
        unexpected = [k for k in w if k not in expected and not ignored(k)]
        wrong = [k for k in expected if k in w and tuple(w[k].shape) != expected[k]]
        assert not (missing or unexpected or wrong), f"not a {config.type} of this config: missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]}"
        return Llama(config, w, dtype)

    def new_cache(self, adapter=None):
        """Per layer [keys, values], each [kv_heads, length, head_dim]; prefix tuning's vectors first."""
        c = self.c
        if adapter and "prefix" in adapter:
            return [[k.to(self.dtype), v.to(self.dtype)] for k, v in adapter["prefix"]]
        empty = lambda: torch.zeros(c.kv_heads, 0, c.head_dim, dtype=self.dtype)
        return [[empty(), empty()] for _ in range(c.layers)]

    def linear(self, x, name, adapter):
        w = self.w
        lora, ia3 = adapter.get("lora", {}), adapter.get("ia3", {})
        if name in ia3 and ia3[name][1]:  # feed-forward IA3: the module's input times the vector
            x = x * ia3[name][0]
        out = F.linear(x, w[name + ".weight"], w.get(name + ".bias"))
        if name in lora:
            a, b, scale = lora[name]
            out = out + F.linear(F.linear(x, a), b) * scale
        if name in ia3 and not ia3[name][1]:  # other IA3 modules: the output (bias included) times the vector
            out = out * ia3[name][0]
        return out

    def rms_norm(self, x, name):
        h = x.to(torch.promote_types(x.dtype, torch.float32))
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.c.eps)
        return self.w[name] * h.to(x.dtype)

    def forward(self, ids, cache, adapter=None, embeds=None):
        """Logits [T, vocab] of the T tokens `ids` appended to `cache` (updated in place); `embeds`
        [P, width] are input embeddings in front of the tokens (prompt tuning), whose logits are dropped."""
        c, w, adapter = self.c, self.w, adapter or {}
        assert all(0 <= i < c.vocab for i in ids), f"token ids {ids} outside the vocabulary 0..{c.vocab - 1}"
        x = w["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)]
        virtual = 0
        if embeds is not None:
            virtual = embeds.shape[0]
            x = torch.cat([embeds.to(x.dtype), x], 0)
        t, past = x.shape[0], cache[0][0].shape[1]
        positions = torch.arange(past, past + t, dtype=torch.float64)
        angles = positions[:, None] * c.inv_freq[None, :]
        angles = torch.cat([angles, angles], -1)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        query_pos, key_pos = torch.arange(past, past + t)[:, None], torch.arange(past + t)[None, :]
        allowed = key_pos <= query_pos
        if c.window:
            allowed &= key_pos > query_pos - c.window
        group = c.heads // c.kv_heads
        for l in range(c.layers):
            p = f"model.layers.{l}."
            h = self.rms_norm(x, p + "input_layernorm.weight")
            q = self.linear(h, p + "self_attn.q_proj", adapter).view(t, c.heads, c.head_dim).transpose(0, 1)
            k = self.linear(h, p + "self_attn.k_proj", adapter).view(t, c.kv_heads, c.head_dim).transpose(0, 1)
            v = self.linear(h, p + "self_attn.v_proj", adapter).view(t, c.kv_heads, c.head_dim).transpose(0, 1)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            cache[l][0] = k = torch.cat([cache[l][0], k], 1)
            cache[l][1] = v = torch.cat([cache[l][1], v], 1)
            # each KV head serves `group` consecutive query heads (transformers' repeat_kv: expand, reshape)
            k = k[:, None].expand(c.kv_heads, group, *k.shape[1:]).reshape(c.heads, -1, c.head_dim)
            v = v[:, None].expand(c.kv_heads, group, *v.shape[1:]).reshape(c.heads, -1, c.head_dim)
            scores = (q @ k.transpose(1, 2)) / math.sqrt(c.head_dim)
            scores = scores.to(torch.promote_types(scores.dtype, torch.float32)).masked_fill(~allowed, -math.inf)
            z = (torch.softmax(scores, -1).to(v.dtype) @ v).transpose(0, 1).reshape(t, c.heads * c.head_dim)
            x = x + self.linear(z, p + "self_attn.o_proj", adapter)
            h = self.rms_norm(x, p + "post_attention_layernorm.weight")
            gate = F.silu(self.linear(h, p + "mlp.gate_proj", adapter))
            x = x + self.linear(gate * self.linear(h, p + "mlp.up_proj", adapter), p + "mlp.down_proj", adapter)
        head = w["model.embed_tokens.weight"] if c.tied else w["lm_head.weight"]
        return F.linear(self.rms_norm(x[virtual:], "model.norm.weight"), head)

    def greedy(self, ids, count, adapter=None, cached=True):
        """`count` greedy tokens after `ids` and the smallest gap between the best and second logit."""
        adapter = adapter or {}
        prompt = adapter.get("prompt")
        ids, margins = list(ids), []
        cache = self.new_cache(adapter)
        logits = self.forward(ids, cache, adapter, prompt)[-1]
        for _ in range(count):
            top = torch.topk(logits.double(), 2).values
            margins.append(float(top[0] - top[1]))
            ids.append(int(logits.argmax()))
            if cached:
                logits = self.forward(ids[-1:], cache, adapter)[-1]
            else:
                logits = self.forward(ids, self.new_cache(adapter), adapter, prompt)[-1]
        return ids[len(ids) - count:], min(margins) if margins else None

    def logits(self, ids, adapter=None):
        adapter = adapter or {}
        return self.forward(ids, self.new_cache(adapter), adapter, adapter.get("prompt"))


# ---------------------------------------------------------------- PEFT adapters
def load_adapter(directory, config, dtype=torch.float64):
    """A PEFT adapter folder (adapter_config.json + adapter_model.safetensors) for `config`'s model."""
    with open(os.path.join(directory, "adapter_config.json")) as f:
        ac = json.load(f)
    tensors = read_safetensors(os.path.join(directory, "adapter_model.safetensors"), dtype)
    kind, shapes = ac["peft_type"], config.expected_shapes()
    if kind == "LORA":
        lora = {}
        for k, a in tensors.items():
            assert k.startswith("base_model.model.") and k.endswith((".lora_A.weight", ".lora_B.weight")), f"not a LoRA key: {k}"
            if k.endswith(".lora_A.weight"):
                module = k[len("base_model.model."):-len(".lora_A.weight")]
                r = pattern_value(ac.get("rank_pattern") or {}, module, ac["r"])
                alpha = pattern_value(ac.get("alpha_pattern") or {}, module, ac["lora_alpha"])
                b = tensors[k.replace("lora_A", "lora_B")]
                out_in = shapes.get(module + ".weight")
                assert out_in and len(out_in) == 2, f"{k}: the model has no linear module {module}"
                assert tuple(a.shape) == (r, out_in[1]) and tuple(b.shape) == (out_in[0], r), \
                    f"{k}: A {tuple(a.shape)} and B {tuple(b.shape)} do not fit {module} {out_in} at rank {r}"
                scale = alpha / math.sqrt(r) if ac.get("use_rslora") else alpha / r
                lora[module] = (a, b, scale)
        return {"lora": lora}
    if kind == "IA3":
        targets, feedforward = ac["target_modules"], ac.get("feedforward_modules") or []
        ends = lambda module, names: any(module == n or module.endswith("." + n) for n in names)
        ia3 = {}
        for k, vector in tensors.items():
            assert k.startswith("base_model.model.") and k.endswith(".ia3_l"), f"not an IA3 key: {k}"
            module = k[len("base_model.model."):-len(".ia3_l")]
            assert ends(module, targets), (module, targets)
            ff = ends(module, feedforward)
            out_in = shapes.get(module + ".weight")
            assert out_in and len(out_in) == 2, f"{k}: the model has no linear module {module}"
            assert tuple(vector.shape) == ((1, out_in[1]) if ff else (out_in[0], 1)), f"{k}: {tuple(vector.shape)} does not fit {module} {out_in}"
            # PEFT's IA3 Linear: [1, in_features] on a feed-forward module, [out_features, 1] otherwise
            ia3[module] = (vector.flatten(), ff)
        return {"ia3": ia3}
    emb = tensors["prompt_embeddings"]
    p = ac["num_virtual_tokens"]
    if kind == "PROMPT_TUNING":
        assert tuple(emb.shape) == (p, config.width), f"prompt_embeddings {tuple(emb.shape)} is not ({p}, {config.width})"
        return {"prompt": emb}
    assert kind == "PREFIX_TUNING", f"peft_type {kind} is not LORA, IA3, PREFIX_TUNING or PROMPT_TUNING"
    assert not ac.get("prefix_projection"), "prefix_projection adapters keep an encoder, not the vectors"
    # PEFT (utils/other.py, _prepare_prompt_learning_config, "For grouped-query attention, see #1901",
    # since v0.12.0) sizes a prefix for a config with num_key_value_heads as num_attention_heads =
    # num_key_value_heads and token_dim = head_dim * num_key_value_heads (head_dim from the config when
    # given, else hidden_size / num_attention_heads); earlier versions sized it by the query heads, which
    # does not fit a GQA model's cache, so such a file is refused here. peft_model.get_prompt views the
    # [P, layers * 2 * token_dim] embedding as [P, layers * 2, kv_heads, head_dim] and permutes it to
    # [layers * 2, kv_heads, P, head_dim]: layer l's keys are row 2l, its values row 2l + 1. The keys go
    # into the cache as given (no RoPE).
    heads, dim = ac["num_attention_heads"], ac["token_dim"]
    assert ac["num_layers"] == config.layers, f"prefix for {ac['num_layers']} layers, the model has {config.layers}"
    assert heads == config.kv_heads and dim == heads * config.head_dim, \
        f"prefix of {heads} heads and token_dim {dim}: PEFT sizes it {config.kv_heads} KV heads, token_dim {config.kv_heads * config.head_dim}"
    assert tuple(emb.shape) == (p, config.layers * 2 * dim), f"prompt_embeddings {tuple(emb.shape)}"
    kv = emb.view(p, config.layers * 2, heads, dim // heads).permute(1, 2, 0, 3)
    return {"prefix": [(kv[2 * l], kv[2 * l + 1]) for l in range(config.layers)]}

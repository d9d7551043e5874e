"""make_llama.py selfcheck: the reference Llama checked against itself and against a scalar hand computation.

Each check writes small checkpoints with make_llama.py's own `make` into a temporary folder, reads them
back as any loader would, and compares two routes that must agree: cached against uncached greedy
decoding, grouped-query attention against the same model with its KV heads repeated into plain
multi-head attention, rope_scaling that must be the identity against none, prefix and prompt tuning
against the real tokens whose keys or embeddings they carry, on-the-fly adapters against merged weights,
Mistral's sliding window against its two limits, sharded and bf16 files against the single f32 file.
"""
import json
import math
import os
import tempfile

import torch

import make_llama
from llama_ref import Config, Llama, load_adapter
from safetensors_io import read_safetensors

TOKENS = [5, 77, 123, 9, 250, 31, 64, 200, 7, 150, 42, 99]


def build(folder, *options, reference=False):
    args = make_llama.build_parser().parse_args(["make", folder, *options] + ([] if reference else ["--no-reference"]))
    make_llama.make(args)
    return Llama.load(folder)


def same(a, b, tol, what):
    err = float((a - b).abs().max())
    assert err <= tol, f"{what}: max difference {err:.3g} > {tol:.3g}"
    return err


def check_cache(model, adapter=None, what=""):
    for n in (1, 5, 12):
        cached, _ = model.greedy(TOKENS[:n], 8, adapter, cached=True)
        plain, _ = model.greedy(TOKENS[:n], 8, adapter, cached=False)
        assert cached == plain, f"{what}: cached {cached} != uncached {plain}"
    cache = model.new_cache(adapter)
    stepwise = torch.cat([model.forward(TOKENS[:4], cache, adapter, (adapter or {}).get("prompt"))]
                         + [model.forward([t], cache, adapter) for t in TOKENS[4:]])
    same(stepwise, model.logits(TOKENS, adapter), 1e-10, f"{what}: token-by-token logits with the cache")


def hand_forward(model, ids):
    """Logits of `ids` with plain Python floats, written from the formulas, for a one-layer model whose
    head_dim is 4: RoPE rotates the pairs (0, 2) and (1, 3) by position · theta^0 and position · theta^-1/2."""
    c, w = model.c, {k: t.tolist() for k, t in model.w.items()}
    theta = c.raw["rope_theta"]
    matvec = lambda m, x: [sum(a * b for a, b in zip(row, x)) for row in m]
    def rms(x, g):
        s = math.sqrt(sum(v * v for v in x) / len(x) + c.eps)
        return [gi * v / s for gi, v in zip(g, x)]
    def rope(v, pos):
        out = list(v)
        for i, freq in ((0, 1.0), (1, theta ** -0.5)):
            a, b = v[i], v[i + 2]
            out[i] = a * math.cos(pos * freq) - b * math.sin(pos * freq)
            out[i + 2] = b * math.cos(pos * freq) + a * math.sin(pos * freq)
        return out
    p, d = "model.layers.0.", c.head_dim
    xs = [list(w["model.embed_tokens.weight"][i]) for i in ids]
    hs = [rms(x, w[p + "input_layernorm.weight"]) for x in xs]
    qs = [matvec(w[p + "self_attn.q_proj.weight"], h) for h in hs]
    ks = [matvec(w[p + "self_attn.k_proj.weight"], h) for h in hs]
    vs = [matvec(w[p + "self_attn.v_proj.weight"], h) for h in hs]
    out = []
    for t, x in enumerate(xs):
        z = []
        for head in range(c.heads):
            kv = head // (c.heads // c.kv_heads)
            q = rope(qs[t][head * d:(head + 1) * d], t)
            keys = [rope(ks[j][kv * d:(kv + 1) * d], j) for j in range(t + 1)]
            scores = [sum(a * b for a, b in zip(q, k)) / math.sqrt(d) for k in keys]
            top = max(scores)
            e = [math.exp(s - top) for s in scores]
            att = [v / sum(e) for v in e]
            z += [sum(att[j] * vs[j][kv * d + i] for j in range(t + 1)) for i in range(d)]
        x = [a + b for a, b in zip(x, matvec(w[p + "self_attn.o_proj.weight"], z))]
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        gate = [g / (1 + math.exp(-g)) for g in matvec(w[p + "mlp.gate_proj.weight"], h)]
        up = matvec(w[p + "mlp.up_proj.weight"], h)
        x = [a + b for a, b in zip(x, matvec(w[p + "mlp.down_proj.weight"], [g * u for g, u in zip(gate, up)]))]
        out.append(matvec(w["lm_head.weight"], rms(x, w["model.norm.weight"])))
    return torch.tensor(out, dtype=torch.float64)


def merged(model, folder):
    """The model with a LoRA or IA3 adapter folder folded into its weights, as PEFT's merge_and_unload
    does, read from the files directly: W + alpha / r · B A for LoRA; IA3's [out, 1] vectors scale the
    weight's rows (and bias), its [1, in] vectors the columns."""
    ac = json.load(open(os.path.join(folder, "adapter_config.json")))
    tensors = {k[len("base_model.model."):]: t.double()
               for k, t in read_safetensors(os.path.join(folder, "adapter_model.safetensors")).items()}
    w = dict(model.w)
    for key, t in tensors.items():
        if key.endswith(".lora_A.weight"):
            name = key[:-len(".lora_A.weight")] + ".weight"
            w[name] = w[name] + ac["lora_alpha"] / ac["r"] * tensors[key.replace("lora_A", "lora_B")] @ t
        elif key.endswith(".ia3_l"):
            name = key[:-len(".ia3_l")]
            w[name + ".weight"] = w[name + ".weight"] * t
            if t.shape[1] == 1 and name + ".bias" in w:
                w[name + ".bias"] = w[name + ".bias"] * t[:, 0]
    return Llama(model.c, w, model.dtype)


def with_config(model, **changes):
    return Config(model.c.raw | changes)


def selfcheck():
    torch.set_num_threads(1)
    results = []
    def ok(name, detail=""):
        results.append(name)
        print(f"ok  {name}{'  ' + detail if detail else ''}", flush=True)
    with tempfile.TemporaryDirectory(prefix="llama-selfcheck-") as tmp:
        at = lambda name: os.path.join(tmp, name)

        tiny = build(at("hand"), "--layers", "1", "--heads", "2", "--kv-heads", "1", "--width", "8", "--head-dim", "4",
                     "--mlp", "6", "--vocab", "11", "--std", "0.5")
        ids = [3, 7, 1, 10, 3]
        err = same(tiny.logits(ids), hand_forward(tiny, ids), 1e-12, "hand computation")
        ok("one layer, 2 heads on 1 KV head, head_dim 4: equal to the scalar hand computation", f"{err:.1e}")

        base = build(at("base"), reference=True)
        check_cache(base, what="llama")
        for name in ("lora", "ia3", "prefix", "prompt"):
            check_cache(base, load_adapter(at(f"base/peft/{name}"), base.c), f"llama + {name}")
        ok("cached and uncached greedy equal; token-by-token logits equal (base, LoRA, IA3, prefix, prompt)")
        reference = json.load(open(at("base/reference.json")))
        row = reference["logits"][2]
        same(torch.tensor(row["logits"], dtype=torch.float64).view(row["shape"]), base.logits(row["ids"]), 0, "reference.json logits")
        assert [g["new"] for g in reference["greedy"]] == [base.greedy(g["ids"], 8)[0] for g in reference["greedy"]]
        ok("reference.json holds this model's logits and continuations")

        gqa = base
        k = base.c.heads // base.c.kv_heads
        w = dict(gqa.w)
        for l in range(base.c.layers):
            for m in ("k_proj", "v_proj"):
                name = f"model.layers.{l}.self_attn.{m}.weight"
                w[name] = w[name].view(base.c.kv_heads, base.c.head_dim, -1).repeat_interleave(k, 0).reshape(-1, base.c.width)
        mha = Llama(with_config(base, num_key_value_heads=base.c.heads), w, torch.float64)
        err = same(gqa.logits(TOKENS), mha.logits(TOKENS), 1e-12, "GQA against MHA")
        ok(f"{base.c.kv_heads} KV heads equal {base.c.heads}-head attention with the KV heads repeated", f"{err:.1e}")

        none = base.logits(TOKENS)
        for scaling in ({"rope_type": "linear", "factor": 1.0},
                        {"rope_type": "llama3", "factor": 1.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 128}):
            same(Llama(with_config(base, rope_scaling=scaling), base.w, torch.float64).logits(TOKENS), none, 0,
                 f"{scaling['rope_type']} factor 1")
        linear = Llama(with_config(base, rope_scaling={"rope_type": "linear", "factor": 2.0}), base.w, torch.float64)
        assert float((linear.logits(TOKENS) - none).abs().max()) > 1e-3, "linear factor 2 changes nothing"
        c = with_config(base, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 128})
        plain, wavelength = base.c.inv_freq, 2 * math.pi / base.c.inv_freq
        kept, slowed = wavelength < 128 / 4, wavelength > 128
        middle = ~kept & ~slowed
        assert kept.any() and slowed.any() and middle.any(), wavelength
        assert torch.equal(c.inv_freq[kept], plain[kept]) and torch.allclose(c.inv_freq[slowed], plain[slowed] / 8)
        assert ((c.inv_freq[middle] < plain[middle]) & (c.inv_freq[middle] > plain[middle] / 8)).all()
        # head_dim 16: the third frequency, 10000^(-4/16) = 0.1, has wavelength 20 pi, between 128 / 4 and
        # 128, where llama3 blends 0.1 / 8 and 0.1 with weight (128 / (20 pi) - 1) / (4 - 1) on the latter.
        blend = (128 / (20 * math.pi) - 1) / 3
        assert middle[2] and abs(float(c.inv_freq[2]) - ((1 - blend) * 0.1 / 8 + blend * 0.1)) < 1e-15, c.inv_freq[2]
        ok("rope_scaling linear and llama3 with factor 1 equal none; llama3's three bands keep, blend, slow by the factor")

        for name in ("lora", "ia3"):
            adapter = load_adapter(at(f"base/peft/{name}"), base.c)
            err = same(base.logits(TOKENS, adapter), merged(base, at(f"base/peft/{name}")).logits(TOKENS), 1e-10, f"{name} merged")
            assert float((base.logits(TOKENS, adapter) - none).abs().max()) > 1e-2, f"{name} changes nothing"
        ok("LoRA (q_proj, v_proj) and IA3 (k_proj, v_proj outputs, down_proj input) equal their merged weights")

        head, tail = TOKENS[:3], TOKENS[3:]
        cache = base.new_cache()
        base.forward(head, cache)
        rows = torch.stack([t for pair in cache for t in pair])  # [layers * 2, kv_heads, P, head_dim]
        make_llama.write_prefix(at("prefix"), at("base"), base.c, rows.permute(2, 0, 1, 3).reshape(len(head), -1))
        prefix = load_adapter(at("prefix"), base.c)
        err = same(base.logits(tail, prefix), none[3:], 1e-12, "prefix of cached keys")
        make_llama.write_prompt(at("prompt"), at("base"), base.c, base.w["model.embed_tokens.weight"][head])
        err2 = same(base.logits(tail, load_adapter(at("prompt"), base.c)), none[3:], 1e-12, "prompt of token embeddings")
        ok("a PEFT prefix holding 3 tokens' cached keys/values (KV-head sized) and a prompt holding their "
           "embeddings give those tokens' continuation logits", f"{err:.1e}, {err2:.1e}")

        mistral = build(at("mistral"), "--model-type", "mistral", "--sliding-window", "4")
        check_cache(mistral, what="mistral window 4")
        check_cache(mistral, load_adapter(at("base/peft/prefix"), mistral.c), "mistral window 4 + prefix")
        one = Llama(with_config(mistral, sliding_window=1), mistral.w, torch.float64)
        alone = torch.cat([one.logits([t]) for t in TOKENS])
        same(one.logits(TOKENS), alone, 1e-12, "window 1 against single tokens")
        wide = Llama(with_config(mistral, sliding_window=len(TOKENS)), mistral.w, torch.float64)
        same(wide.logits(TOKENS), Llama(with_config(mistral, sliding_window=None), mistral.w, torch.float64).logits(TOKENS),
             0, "window as long as the sequence")
        assert float((mistral.logits(TOKENS) - wide.logits(TOKENS))[4:].abs().max()) > 1e-3, "window 4 masks nothing"
        same(mistral.logits(TOKENS)[:4], wide.logits(TOKENS)[:4], 0, "window 4 inside the window")
        ok("Mistral's window: cached equals uncached across it; window 1 sees only the token itself; a window "
           "as long as the sequence masks nothing; window 4 changes only positions 4 on")

        qwen = build(at("qwen2"), "--model-type", "qwen2", "--tied")
        assert "model.layers.0.self_attn.k_proj.bias" in qwen.w and "model.layers.0.self_attn.o_proj.bias" not in qwen.w
        assert "lm_head.weight" not in qwen.w
        check_cache(qwen, what="qwen2")
        biased = build(at("bias"), "--bias", "--head-dim", "8", "--rope-scaling", "llama3", "--rope-factor", "8")
        assert biased.c.raw["head_dim"] == 8 and "model.layers.1.self_attn.o_proj.bias" in biased.w
        check_cache(biased, what="llama with attention_bias, head_dim 8 and llama3 RoPE")
        ok("Qwen2 (q/k/v biases, tied head), Llama with attention_bias, head_dim and llama3: cached equals uncached")

        sharded = build(at("sharded"), "--shards", "3")
        assert sharded.w.keys() == base.w.keys() and all(torch.equal(sharded.w[k], base.w[k]) for k in base.w)
        index = json.load(open(at("sharded/model.safetensors.index.json")))
        assert len(set(index["weight_map"].values())) == 3
        bf16 = build(at("bf16"), "--dtype", "bf16")
        assert all(torch.equal(bf16.w[k], base.w[k].float().bfloat16().double()) for k in base.w)
        ok("3 shards hold the single file's weights; bf16 files hold them rounded to bf16")
    print(f"selfcheck: {len(results)} checks passed")

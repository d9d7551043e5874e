"""The minGPT model and optimiser in plain PyTorch, shared by the scripts that compare PrefixLab with
an independent implementation (bench-pytorch.py, nb01-pytorch.py).

Learned positions, pre-LayerNorm blocks, causal self-attention with biased qkv and output projections,
a tanh-GELU MLP E -> 4E -> E, dropout 0.1 on embeddings, attention weights and residual outputs, a final
LayerNorm and a bias-free head; weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), biases 0.
AdamW with minGPT's groups: weight decay on Linear weights only.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, width, heads, block):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.c_attn, self.c_proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.c_fc, self.mlp_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.drop_attn, self.drop_resid, self.drop_mlp = nn.Dropout(0.1), nn.Dropout(0.1), nn.Dropout(0.1)
        self.register_buffer("future", torch.ones(block, block, dtype=torch.bool).triu(1))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        att = att.masked_fill(self.future[:t, :t], float("-inf"))
        y = self.drop_attn(F.softmax(att, dim=-1)) @ v
        x = x + self.drop_resid(self.c_proj(y.transpose(1, 2).reshape(b, t, c)))
        return x + self.drop_mlp(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")))


class Gpt(nn.Module):
    def __init__(self, vocab, block, layers, heads, width):
        super().__init__()
        self.vocab = vocab
        self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(block, width)
        self.blocks = nn.ModuleList(Block(width, heads, block) for _ in range(layers))
        self.ln_f, self.head = nn.LayerNorm(width), nn.Linear(width, vocab, bias=False)
        self.drop = nn.Dropout(0.1)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block_ in self.blocks:
            for proj in (block_.c_proj, block_.mlp_proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, idx):
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(idx.size(1))))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def adamw(model, lr=5e-4):
    """AdamW (betas 0.9/0.95) with weight decay 0.1 on the Linear weights and none elsewhere."""
    decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 2 and not n.startswith(("wte", "wpe"))]
    other = [p for p in model.parameters() if not any(p is d for d in decay)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))

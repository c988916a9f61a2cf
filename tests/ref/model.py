"""The vitcap captioning model in plain PyTorch (CPU, fp32), written from
DESIGN.md ("The model", "Checkpoint contract"), not from the C code: the
reference the C model is tested against, and the way a user loads a vitcap
checkpoint into PyTorch:

    import model
    m, vocab = model.load("model.safetensors")
    loss = m(images=images_u8, ids=ids, targets=targets)   # images [B, H, W, 3] uint8

Pre-LayerNorm transformer throughout. Attention is written out by hand
(torch 1.13 has no scaled_dot_product_attention).
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def attend(q, k, v, heads, causal=False):
    """Multi-head attention: q [B, Tq, D], k and v [B, Tk, D]; head h owns
    channels h*D/H .. (h+1)*D/H; scores scaled by 1/sqrt(D/H)."""
    B, Tq, D = q.shape
    Tk = k.shape[1]
    hs = D // heads
    q = q.view(B, Tq, heads, hs).transpose(1, 2)
    k = k.view(B, Tk, heads, hs).transpose(1, 2)
    v = v.view(B, Tk, heads, hs).transpose(1, 2)
    att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
    if causal:
        allowed = torch.ones(Tq, Tk, dtype=torch.bool, device=q.device).tril(diagonal=Tk - Tq)
        att = att.masked_fill(~allowed, float("-inf"))
    att = att.softmax(dim=-1)
    return (att @ v).transpose(1, 2).reshape(B, Tq, D)


class MLP(nn.Module):
    def __init__(self, dim, hidden, gelu):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.approximate = "tanh" if gelu == "tanh" else "none"

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, causal):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)     # rows q, k, v
        self.proj = nn.Linear(dim, dim)
        self.heads, self.causal = heads, causal

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(attend(q, k, v, self.heads, self.causal))


class CrossAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)      # rows k, v
        self.proj = nn.Linear(dim, dim)
        self.heads = heads

    def forward(self, x, memory):
        k, v = self.kv(memory).chunk(2, dim=-1)
        return self.proj(attend(self.q(x), k, v, self.heads))


class EncoderBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["dim"]
        self.ln1 = nn.LayerNorm(d, eps=c["ln_eps"])
        self.attn = SelfAttention(d, c["heads"], causal=False)
        self.ln2 = nn.LayerNorm(d, eps=c["ln_eps"])
        self.mlp = MLP(d, c["mlp_ratio"] * d, c["gelu"])

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class DecoderBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["dim"]
        self.ln1 = nn.LayerNorm(d, eps=c["ln_eps"])
        self.self_attn = SelfAttention(d, c["heads"], causal=True)
        self.ln2 = nn.LayerNorm(d, eps=c["ln_eps"])
        self.cross_attn = CrossAttention(d, c["heads"])
        self.ln3 = nn.LayerNorm(d, eps=c["ln_eps"])
        self.mlp = MLP(d, c["mlp_ratio"] * d, c["gelu"])

    def forward(self, x, memory):
        x = x + self.self_attn(self.ln1(x))
        x = x + self.cross_attn(self.ln2(x), memory)
        return x + self.mlp(self.ln3(x))


class Encoder(nn.Module):
    """ViT: images uint8 [B, H, W, 3] -> embeddings [B, N, D]."""

    def __init__(self, c):
        super().__init__()
        d, p = c["dim"], c["patch"]
        self.patch, self.dim = p, d
        npatch = (c["image"] // p) ** 2
        # a linear map of flattened patches, kept as a Linear (the checkpoint's
        # [D, 3*P*P]) and applied as the Conv2d it is a reshape of
        self.patch_embed = nn.Linear(3 * p * p, d)
        if c["cls_token"]:
            self.cls_token = nn.Parameter(torch.zeros(1, d))
        else:
            self.cls_token = None
        self.pos_embed = nn.Parameter(torch.zeros(npatch + (1 if c["cls_token"] else 0), d))
        self.blocks = nn.ModuleList(EncoderBlock(c) for _ in range(c["enc_layers"]))
        self.ln_f = nn.LayerNorm(d, eps=c["ln_eps"])
        self.register_buffer("mean", torch.tensor(c["mean"], dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(c["std"], dtype=torch.float32), persistent=False)

    def forward(self, images):
        x = images.float() / 255.0
        x = (x - self.mean) / self.std
        x = x.permute(0, 3, 1, 2)                                   # B, 3, H, W
        w = self.patch_embed.weight.view(self.dim, 3, self.patch, self.patch)
        x = F.conv2d(x, w, self.patch_embed.bias, stride=self.patch)
        x = x.flatten(2).transpose(1, 2)                            # B, patches, D
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], 1, self.dim), x], dim=1)
        x = x + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)


class Decoder(nn.Module):
    """ids [B, T] and embeddings [B, N, D] -> logits [B, T, V]."""

    def __init__(self, c):
        super().__init__()
        d = c["dim"]
        self.tok_embed = nn.Embedding(c["vocab"], d)
        self.pos_embed = nn.Parameter(torch.zeros(c["dec_len"], d))
        self.blocks = nn.ModuleList(DecoderBlock(c) for _ in range(c["dec_layers"]))
        self.ln_f = nn.LayerNorm(d, eps=c["ln_eps"])

    def forward(self, ids, memory):
        x = self.tok_embed(ids) + self.pos_embed[: ids.shape[1]]
        for block in self.blocks:
            x = block(x, memory)
        return self.ln_f(x) @ self.tok_embed.weight.t()            # tied, no bias


DEFAULTS = {"vocab": 0, "mlp_ratio": 4, "cls_token": False, "gelu": "tanh", "ln_eps": 1e-5,
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


class Captioner(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = dict(DEFAULTS, **config)
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)

    def forward(self, ids, targets=None, images=None, embed=None):
        """The decoder reads ids (<bos> w1 .. wn) and predicts targets (w1 ..
        wn <eos>); target 0 (<pad>) does not count. Returns the mean loss with
        targets, else the logits."""
        memory = self.encoder(images) if embed is None else embed
        logits = self.decoder(ids, memory)
        if targets is None:
            return logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                               ignore_index=0)


def load(path):
    """A vitcap checkpoint -> (Captioner, vocabulary text)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    m = Captioner(json.loads(meta["config"]))
    m.load_state_dict(load_file(path), strict=True)
    return m, meta.get("vocab", "")

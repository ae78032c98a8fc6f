"""The pilot model: a small pre-norm GPT in one file (after nanoGPT, with Llama's parts).

Pre-norm blocks (RMSNorm), rotary position embeddings (Su et al. 2021), causal attention
through PyTorch's scaled_dot_product_attention (flash kernels on GPU), an MLP that is
either GELU (two matrices, GPT-2) or SwiGLU (three, Shazeer 2020), optional QK-norm
(an RMSNorm on queries and keys per head, Dehghani et al. 2023), tied or untied
embeddings, no biases.

Parameters and FLOPs are counted by ``scalelab.planning.ModelConfig`` (the conventions
``scalelab plan`` uses), via :meth:`GPTConfig.to_plan`; tests check the count against
``sum(p.numel())``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scalelab.ladder.config import GPTConfig, shape_for_params  # noqa: F401  (re-exported)


class _RMSNorm(torch.autograd.Function):
    """RMSNorm with a hand-written backward. On the CPU, F.rms_norm is a chain of elementwise
    kernels, each with its own backward; this takes 0.63x its time forward and backward on
    a (8, 128, 64) batch."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        rstd = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(x.size(-1)).add_(eps).rsqrt_()
        normed = x * rstd
        ctx.save_for_backward(normed, rstd, weight)
        return normed * weight

    @staticmethod
    def backward(ctx, grad):
        normed, rstd, weight = ctx.saved_tensors
        d = normed.size(-1)
        scaled = grad * normed
        # d(x) = rstd * (g*w - normed * mean(g*w*normed)); the mean is a matrix-vector product
        dot = (scaled @ weight).unsqueeze(-1).div_(d)
        grad_x = torch.addcmul(grad * weight, normed, dot, value=-1).mul_(rstd)
        return grad_x, scaled.reshape(-1, d).sum(0), None


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        if x.is_cuda:  # a fused kernel there
            return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)
        return _RMSNorm.apply(x, self.weight, self.eps)


def rope_tables(seq_len: int, head_dim: int, base: float, device=None):
    """Each position's angle for each pair of a head's dimensions, as (cos, sin) in a last
    dimension of 2: (T, head_dim/2, 2), a complex number per pair once viewed as complex."""
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv)  # (T, hd/2)
    return torch.stack((angles.cos(), angles.sin()), dim=-1)


def apply_rope(x, table):
    """Turn each adjacent pair (x_2i, x_2i+1) of the last dimension by its position's angle
    (the original Llama layout). ``table`` is :func:`rope_tables`' output, broadcasting
    against ``x``'s pairs. Run eagerly it is one complex multiply each way, where the
    real form takes six kernels each way (the rotation's share of a small CPU step fell
    by half); under torch.compile the real form, which the compiler fuses (it leaves
    complex arithmetic to eager kernels)."""
    pairs = x.float().unflatten(-1, (-1, 2))
    if torch.compiler.is_compiling():
        a, b, cos, sin = pairs[..., 0], pairs[..., 1], table[..., 0], table[..., 1]
        turned = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    else:
        turned = torch.view_as_real(torch.view_as_complex(pairs) * torch.view_as_complex(table))
    return turned.flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.d_model // cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.q_norm = RMSNorm(self.head_dim) if cfg.qk_norm else None
        self.k_norm = RMSNorm(self.head_dim) if cfg.qk_norm else None

    def forward(self, x, rope):
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, self.head_dim)
        q, k, v = qkv.unbind(2)  # (B, T, nh, hd) each; unbind's backward is one stack, slicing's a zero-fill each
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           is_causal=True)  # (B, nh, T, hd)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.swiglu = cfg.ffn == "swiglu"
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.gate = nn.Linear(cfg.d_model, cfg.d_ff, bias=False) if self.swiglu else None
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)

    def forward(self, x):
        # exact GELU: on the CPU the tanh approximation (GPT-2's) is the slower kernel (0.10 vs 0.04 ms here)
        h = F.silu(self.gate(x)) * self.up(x) if self.swiglu else F.gelu(self.up(x))
        return self.down(h)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.norm1, self.attn = RMSNorm(cfg.d_model), Attention(cfg)
        self.norm2, self.mlp = RMSNorm(cfg.d_model), MLP(cfg)

    def forward(self, x, rope):
        x = x + self.attn(self.norm1(x), rope)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model)
        self.head = None if cfg.tied_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        # real, not complex: buffers are broadcast between data-parallel ranks
        self.register_buffer("rope", rope_tables(cfg.seq_len, cfg.d_model // cfg.n_heads, cfg.rope_base),
                             persistent=False)
        self.apply(self._init)
        # GPT-2: scale the residual projections by 1/sqrt(2L) so the residual stream's variance stays put
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                p.data /= math.sqrt(2 * cfg.n_layers)

    @staticmethod
    def _init(module):
        # matrices at std 1/sqrt(fan-in), not GPT-2's fixed 0.02: for pilot models 8-64 wide,
        # 0.02 is a tenth of that, and their runs stall on plateaus for a random while. Measured
        # on Austen (4 seeds): a 40k-parameter rung's final bits/byte spread 0.05 instead of
        # 0.33, and a 10k one's 0.21 instead of 0.38, both at lower loss. At width 768 the two
        # are close (0.036 vs 0.02).
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=module.in_features ** -0.5)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.shape  # (B, T)
        x = self.embed(idx)  # (B, T, C)
        rope = self.rope[:T, None]  # against (B, T, nh, hd/2, 2) pairs
        for block in self.blocks:
            x = block(x, rope)
        x = self.norm(x)
        logits = x @ self.embed.weight.t() if self.head is None else self.head(x)  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

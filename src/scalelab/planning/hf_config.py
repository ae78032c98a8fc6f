"""A model's shape from its Hugging Face ``config.json``: the planner counts its parameters
and FLOPs from the architecture a team is about to train, not from a preset that is close.

Read for the families whose fields are known here (``model_type``): the gated-MLP,
RMSNorm, rotary families (Llama, Mistral, Mixtral, Qwen2/3 and their MoE, Gemma, OLMo,
Phi-3, DeepSeek-V2/V3 with latent attention), and GPT-2 / GPT-NeoX. Anything else is refused
with the shape flags that describe it instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from scalelab.errors import InputError
from scalelab.planning.model import ModelConfig

GATED = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3_text",
         "olmo", "olmo2", "phi3", "deepseek_v2", "deepseek_v3", "granite")
"""Families with a gated MLP (three matrices: SwiGLU or GeGLU), RMSNorm and rotary positions."""
PLAIN = ("gpt2", "gpt_neox")
"""Families with a two-matrix GELU MLP, LayerNorm and biases."""


def is_hf_config(text: str) -> bool:
    """Whether ``--preset`` names a config file (or a model folder holding one), not a preset."""
    p = Path(text)
    return text.endswith(".json") or (p.is_dir() and (p / "config.json").is_file())


def model_from_hf_config(path: str | Path, seq_len: int | None = None) -> ModelConfig:
    """The :class:`ModelConfig` of a Hugging Face ``config.json`` (or of the model folder
    holding one). ``seq_len`` is the training sequence length (a config gives the longest
    it can take, not the one it is trained at: 2048 when not given).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "config.json"
    >>> _ = p.write_text(json.dumps({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
    ...     "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
    ...     "vocab_size": 128256, "tie_word_embeddings": False}))
    >>> round(model_from_hf_config(p, seq_len=8192).params()["total"] / 1e9, 3)
    8.03
    """
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        raise InputError(f"--preset {str(path)!r}: no such config file; give a preset name or a Hugging Face "
                         "config.json (or the model's folder)")
    try:
        c = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{str(p)!r} is not valid JSON ({exc})") from None
    if not isinstance(c, dict):
        raise InputError(f"{str(p)!r} is not a model config (a JSON object)")
    if isinstance(c.get("text_config"), dict):  # a multimodal model's language part
        c = {**c["text_config"], "model_type": c["text_config"].get("model_type", c.get("model_type"))}
    kind = str(c.get("model_type", ""))
    name = str(p)  # shown as the model's name: where its shape came from
    seq = int(seq_len or 2048)
    if kind in PLAIN:
        return _plain(c, kind, name, seq, p)
    if kind not in GATED:
        raise InputError(f"{str(p)!r}: model_type {kind!r} is not one read here (known: {', '.join(GATED + PLAIN)}); "
                         "give its shape with --d-model, --layers, --heads, --kv-heads, --d-ff, --ffn, --vocab")
    need = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
    _require(c, need, p)
    fields = dict(d_model=int(c["hidden_size"]), n_layers=int(c["num_hidden_layers"]),
                  n_heads=int(c["num_attention_heads"]), vocab_size=int(c["vocab_size"]),
                  n_kv_heads=int(c.get("num_key_value_heads") or c["num_attention_heads"]),
                  d_ff=int(c.get("intermediate_size") or 0), head_dim=int(c.get("head_dim") or 0),
                  tied_embeddings=bool(c.get("tie_word_embeddings", kind.startswith("gemma"))),
                  ffn="swiglu", norm="rmsnorm", position="rope", seq_len=seq, name=str(name))
    experts = int(c.get("num_local_experts") or c.get("n_routed_experts") or c.get("num_experts") or 0)
    if experts:
        fields.update(n_experts=experts, top_k=int(c.get("num_experts_per_tok") or 0),
                      d_ff_expert=int(c.get("moe_intermediate_size") or c.get("intermediate_size") or 0))
        shared = int(c.get("n_shared_experts") or 0)
        if not shared and c.get("shared_expert_intermediate_size"):  # Qwen2-MoE: one wide shared expert
            shared = round(int(c["shared_expert_intermediate_size"]) / max(fields["d_ff_expert"], 1))
        fields.update(n_shared_experts=shared, n_dense_layers=int(c.get("first_k_dense_replace") or 0))
    if c.get("kv_lora_rank"):  # DeepSeek's multi-head latent attention
        fields.update(attention="mla", n_kv_heads=0, head_dim=0, q_lora_rank=int(c.get("q_lora_rank") or 0),
                      kv_lora_rank=int(c["kv_lora_rank"]), qk_nope_head_dim=int(c.get("qk_nope_head_dim") or 0),
                      qk_rope_head_dim=int(c.get("qk_rope_head_dim") or 0), v_head_dim=int(c.get("v_head_dim") or 0))
    return ModelConfig(**fields)


def _plain(c: dict, kind: str, name: str, seq: int, p: Path) -> ModelConfig:
    """GPT-2 (learned positions, tied embeddings) and GPT-NeoX (rotary) shapes."""
    if kind == "gpt2":
        _require(c, ("n_embd", "n_layer", "n_head", "vocab_size"), p)
        return ModelConfig(d_model=int(c["n_embd"]), n_layers=int(c["n_layer"]), n_heads=int(c["n_head"]),
                           vocab_size=int(c["vocab_size"]), d_ff=int(c.get("n_inner") or 4 * int(c["n_embd"])),
                           ffn="gelu", norm="layernorm", position="learned", bias=True, tied_embeddings=True,
                           seq_len=seq, name=str(name))
    _require(c, ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"), p)
    return ModelConfig(d_model=int(c["hidden_size"]), n_layers=int(c["num_hidden_layers"]),
                       n_heads=int(c["num_attention_heads"]), vocab_size=int(c["vocab_size"]),
                       d_ff=int(c.get("intermediate_size") or 4 * int(c["hidden_size"])), ffn="gelu", norm="layernorm",
                       position="rope", bias=True, tied_embeddings=bool(c.get("tie_word_embeddings", False)),
                       seq_len=seq, name=str(name))  # a parallel residual keeps both norms in NeoX


def _require(c: dict, keys: tuple, p: Path) -> None:
    missing = [k for k in keys if not c.get(k)]
    if missing:
        raise InputError(f"{str(p)!r} has no {', '.join(missing)}: not a model config this reads")

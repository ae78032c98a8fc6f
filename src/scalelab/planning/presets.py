"""Shapes of well-known models, each with its published parameter count and source.

tests/planning/test_presets.py checks every preset's count against the published figure
(within 1%).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalelab.errors import InputError, suggest
from scalelab.planning.model import ModelConfig


@dataclass(frozen=True)
class Preset:
    model: ModelConfig
    published_total: float
    published_active: float | None
    source: str


def _gpt(name, d, L, H, V, seq, **kw) -> ModelConfig:
    return ModelConfig(name=name, d_model=d, n_layers=L, n_heads=H, vocab_size=V, seq_len=seq, ffn="gelu",
                       position="learned", norm="layernorm", bias=True, tied_embeddings=True, **kw)


def _llama(name, d, L, H, kv, f, V, seq) -> ModelConfig:
    return ModelConfig(name=name, d_model=d, n_layers=L, n_heads=H, n_kv_heads=kv, d_ff=f, vocab_size=V, seq_len=seq)


PRESETS: dict[str, Preset] = {
    "gpt2-small": Preset(
        _gpt("GPT-2 small", 768, 12, 12, 50257, 1024), 124_439_808, None,
        "Radford et al. 2019; Hugging Face gpt2 (124,439,808 parameters)"),
    "gpt3-175b": Preset(
        _gpt("GPT-3 175B", 12288, 96, 96, 50257, 2048), 175.0e9, None,
        "Brown et al. 2020, Table 2.1 (n_params 175.0B, d_model 12288, 96 layers, 96 heads, context 2048)"),
    "llama2-7b": Preset(
        _llama("Llama 2 7B", 4096, 32, 32, 32, 11008, 32000, 4096), 6_738_415_616, None,
        "Touvron et al. 2023; Hugging Face meta-llama/Llama-2-7b-hf (6,738,415,616 parameters)"),
    "llama3-8b": Preset(
        _llama("Llama 3 8B", 4096, 32, 32, 8, 14336, 128256, 8192), 8_030_261_248, None,
        "Meta Llama 3 model card; Hugging Face meta-llama/Meta-Llama-3-8B (8,030,261,248 parameters)"),
    "llama3-70b": Preset(
        _llama("Llama 3 70B", 8192, 80, 64, 8, 28672, 128256, 8192), 70_553_706_496, None,
        "Meta Llama 3 model card; Hugging Face meta-llama/Meta-Llama-3-70B (70,553,706,496 parameters)"),
    "llama3-405b": Preset(
        _llama("Llama 3.1 405B", 16384, 126, 128, 8, 53248, 128256, 8192), 405_853_388_800, None,
        "Dubey et al. 2024 (The Llama 3 Herd of Models), Table 3; Hugging Face meta-llama/Llama-3.1-405B "
        "(405,853,388,800 parameters)"),
    "mixtral-8x7b": Preset(
        ModelConfig(name="Mixtral 8x7B", d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, d_ff=14336,
                    vocab_size=32000, seq_len=32768, n_experts=8, top_k=2),
        46_702_792_704, 12.9e9,
        "Jiang et al. 2024 (Mixtral of Experts): 47B total, 13B active; Hugging Face mistralai/Mixtral-8x7B-v0.1 "
        "(46,702,792,704 parameters)"),
    "deepseek-v3": Preset(
        ModelConfig(name="DeepSeek-V3", d_model=7168, n_layers=61, n_heads=128, vocab_size=129280, seq_len=4096,
                    d_ff=18432, attention="mla", q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128,
                    qk_rope_head_dim=64, v_head_dim=128, n_experts=256, top_k=8, n_shared_experts=1,
                    d_ff_expert=2048, n_dense_layers=3),
        671e9, 37e9,
        "DeepSeek-AI 2024 (DeepSeek-V3 Technical Report, arXiv:2412.19437): 671B total, 37B activated per token "
        "(without the 14B multi-token-prediction module)"),
    "palm-540b": Preset(
        ModelConfig(name="PaLM 540B", d_model=18432, n_layers=118, n_heads=48, n_kv_heads=1, head_dim=256,
                    d_ff=73728, vocab_size=256000, seq_len=2048, tied_embeddings=True, parallel_block=True),
        540.35e9, None,
        "Chowdhery et al. 2022, Table 1 (540.35B; multi-query attention, SwiGLU, parallel layers, shared embeddings, "
        "no biases)"),
    "bloom-176b": Preset(
        ModelConfig(name="BLOOM 176B", d_model=14336, n_layers=70, n_heads=112, vocab_size=250880, seq_len=2048,
                    ffn="gelu", position="alibi", norm="layernorm", bias=True, tied_embeddings=True,
                    embedding_norm=True),
        176_247_271_424, None,
        "BigScience 2022 (arXiv:2211.05100); Hugging Face bigscience/bloom (176,247,271,424 parameters)"),
    "pythia-12b": Preset(
        ModelConfig(name="Pythia 12B", d_model=5120, n_layers=36, n_heads=40, vocab_size=50688, seq_len=2048,
                    ffn="gelu", norm="layernorm", bias=True),
        11_846_072_320, None,
        "Biderman et al. 2023, Table 1 (11,846,072,320 parameters)"),
}


def get_preset(name: str) -> Preset:
    """A preset by name (case and separators forgiven): ``llama3-405b``, ``Llama3_405B``..."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-").replace(".", "")
    key = {"llama31-405b": "llama3-405b", "llama-3-8b": "llama3-8b", "llama-3-70b": "llama3-70b",
           "llama-3-405b": "llama3-405b", "gpt2": "gpt2-small", "gpt-3": "gpt3-175b", "gpt3": "gpt3-175b",
           "deepseekv3": "deepseek-v3", "palm": "palm-540b", "bloom": "bloom-176b"}.get(key, key)
    if key not in PRESETS:
        raise InputError(f"unknown preset {name!r}{suggest(key, PRESETS)}; presets: {', '.join(PRESETS)}")
    return PRESETS[key]

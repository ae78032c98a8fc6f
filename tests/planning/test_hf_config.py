"""A model's shape from its Hugging Face config.json: the same parameter counts as the
presets (themselves checked against the published counts), for dense, MoE and latent-
attention families; unknown families and missing files are refused with what would do."""

import json

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.errors import InputError
from scalelab.planning.hf_config import model_from_hf_config
from scalelab.planning.presets import PRESETS

# the fields of the models' published config.json files that the shape needs
CONFIGS = {
    "llama3-70b": {"model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
                   "num_key_value_heads": 8, "intermediate_size": 28672, "vocab_size": 128256,
                   "tie_word_embeddings": False, "max_position_embeddings": 8192},
    "mixtral-8x7b": {"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
                     "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
                     "num_local_experts": 8, "num_experts_per_tok": 2, "tie_word_embeddings": False},
    "deepseek-v3": {"model_type": "deepseek_v3", "hidden_size": 7168, "num_hidden_layers": 61,
                    "num_attention_heads": 128, "num_key_value_heads": 128, "vocab_size": 129280,
                    "intermediate_size": 18432, "moe_intermediate_size": 2048, "n_routed_experts": 256,
                    "n_shared_experts": 1, "num_experts_per_tok": 8, "first_k_dense_replace": 3, "q_lora_rank": 1536,
                    "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
                    "tie_word_embeddings": False},
    "pythia-12b": {"model_type": "gpt_neox", "hidden_size": 5120, "num_hidden_layers": 36, "num_attention_heads": 40,
                   "intermediate_size": 20480, "vocab_size": 50688, "tie_word_embeddings": False,
                   "use_parallel_residual": True},
    "gpt2-small": {"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "vocab_size": 50257,
                   "n_positions": 1024},
}


@pytest.mark.parametrize("preset", sorted(CONFIGS))
def test_a_config_counts_as_its_preset(tmp_path, preset):
    path = tmp_path / preset / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(CONFIGS[preset]))
    want = PRESETS[preset].model
    for given in (path, path.parent):  # the file, or the model's folder
        got = model_from_hf_config(given, seq_len=want.seq_len)
        assert got.params() == want.params()
        assert got.flops_per_token() == want.flops_per_token()


def test_plan_takes_a_config_for_its_preset_and_refuses_what_it_cannot_read(tmp_path):
    runner = CliRunner()
    qwen = tmp_path / "qwen2.5-7b"
    qwen.mkdir()
    (qwen / "config.json").write_text(json.dumps({  # Qwen2.5-7B: 7.61B, 6.53B without embeddings (its model card)
        "model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28,
        "num_hidden_layers": 28, "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False}))
    r = runner.invoke(app, ["plan", "--preset", str(qwen), "--tokens", "18T", "--num-gpus", "256", "--seq-len", "4096",
                            "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert abs(d["params"]["total"] / 1e9 - 7.61) < 0.01 and abs(d["params"]["non_embedding"] / 1e9 - 6.53) < 0.01
    t5 = tmp_path / "t5.json"
    t5.write_text(json.dumps({"model_type": "t5", "d_model": 512}))
    for path, message in ((t5, "model_type 't5' is not one read here"), (tmp_path / "none.json", "no such config file")):
        r = runner.invoke(app, ["plan", "--preset", str(path), "--tokens", "1T", "--num-gpus", "8"])
        assert r.exit_code == 2 and message in r.stderr, r.output
    with pytest.raises(InputError, match="is not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        model_from_hf_config(tmp_path / "bad.json")


def test_a_moe_config_with_one_wide_shared_expert(tmp_path):
    """Qwen1.5-MoE-A2.7B: 60 experts of 1,408, top-4, one shared expert of 5,632 (four
    experts' width); its model card: 14.3B parameters, 2.7B activated."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({
        "model_type": "qwen2_moe", "hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 16,
        "num_key_value_heads": 16, "intermediate_size": 5632, "moe_intermediate_size": 1408,
        "shared_expert_intermediate_size": 5632, "num_experts": 60, "num_experts_per_tok": 4, "vocab_size": 151936,
        "tie_word_embeddings": False}))
    p = model_from_hf_config(path).params()
    assert round(p["total"] / 1e9, 1) == 14.3 and round(p["active"] / 1e9, 1) == 2.7

"""The CUDA path of the trainer (bf16 autocast, torch.compile, fused AdamW); skipped without a GPU."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="needs torch: pip install 'scalelab[train]'")

from scalelab.ladder.config import GPTConfig, TrainConfig
from scalelab.ladder.model import GPT
from scalelab.ladder.train import Ranks, train

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SMALL = GPTConfig(n_layers=2, d_model=64, n_heads=4, seq_len=128)


def cfg(**kw):
    base = dict(model=SMALL, tokens=200 * 4096, lr=3e-3, batch_tokens=4096, micro_batch=32, eval_tokens=16384,
                final_eval_tokens=32768)
    return TrainConfig(**(base | kw))


def test_bf16_compiled_training_matches_fp32(shards, tmp_path):
    gpu = train(cfg(), shards, tmp_path / "bf16", ranks=Ranks(device="cuda"))
    ref = train(cfg(precision="fp32", compile="no"), shards, tmp_path / "fp32", ranks=Ranks(device="cuda"))
    assert gpu.val_loss < np.log(256) - 1.0
    assert abs(gpu.val_bpb - ref.val_bpb) / ref.val_bpb < 0.02
    assert gpu.tokens_per_s > 0


def test_resume_on_gpu_reaches_the_same_loss(shards, tmp_path):
    c = cfg(tokens=60 * 4096, checkpoint_every=10)
    full = train(c, shards, tmp_path / "full", ranks=Ranks(device="cuda"))
    assert train(c, shards, tmp_path / "cut", ranks=Ranks(device="cuda"), stop_after_steps=30) is None
    resumed = train(c, shards, tmp_path / "cut", ranks=Ranks(device="cuda"))
    assert resumed.resumed_from == 30
    assert resumed.val_loss == pytest.approx(full.val_loss, rel=5e-3)  # kernels need not be bitwise repeatable


def test_bf16_forward_close_to_fp32():
    torch.manual_seed(0)
    model = GPT(SMALL).cuda()
    idx = torch.randint(0, 256, (4, 128), device="cuda")
    with torch.no_grad():
        ref = model(idx, idx)[1].item()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low = model(idx, idx)[1].item()
    assert low == pytest.approx(ref, rel=1e-2)

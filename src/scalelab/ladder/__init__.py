"""Pilot ladders: corpus -> tokens, the small GPT, the trainer, ladder design, executors.

The only room that imports torch (``pip install 'scalelab[train]'``). Designing a ladder
(``design``, ``config``) and fitting its results (``fit``) need no torch; training does,
and says so with :func:`require_torch` before anything starts.
"""

from __future__ import annotations

from scalelab.errors import MissingDependencyError

INSTALL_HINT = ("pip install 'scalelab[train]' (on a machine without a GPU, first pip install torch==2.13.0: "
                "a plain pip install torch downloads several GB of CUDA libraries)")


def require_torch(what: str = "training a ladder"):
    """The ``torch`` module, or a :class:`MissingDependencyError` that names the install command."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(f"{what} needs PyTorch, which is not installed: {INSTALL_HINT}") from None
    return torch

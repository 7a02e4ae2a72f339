"""AdamW with decoupled weight decay on the weight matrices only.

Decayed: every parameter with two or more dimensions except embedding tables, i.e. the projections, the
feed-forward matrices and the untied output head. Not decayed: the embedding (its rows of rare bytes see few
gradients, and decay would shrink them towards zero between visits), norm scales and biases (the xLSTM's gate
biases set the initial forget and input gates; decaying them would pull the gates away from their init).
Betas (0.9, 0.95) and eps 1e-8, as in the xLSTM-7B training code and most LLM recipes.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BETAS", "ADAM_EPS", "param_groups", "build_optimizer"]

BETAS = (0.9, 0.95)
ADAM_EPS = 1e-8


def param_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split the trainable parameters into (decayed, not decayed), each in ``model.parameters()`` order."""
    embedding_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and id(p) not in embedding_weights else no_decay).append(p)
    return decay, no_decay


def build_optimizer(model: nn.Module, *, lr: float, weight_decay: float, fused: bool = False) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` (group 0 decayed with ``weight_decay``, group 1 not).

    The learning rate is set per step by the trainer (``schedule.lr_at``); ``lr`` is only the initial value.
    ``fused`` picks torch's fused kernel (CUDA parameters only; one launch instead of several per tensor).
    """
    decay, no_decay = param_groups(model)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=ADAM_EPS, fused=True if fused else None)

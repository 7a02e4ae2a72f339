"""xLSTM language model (xLSTM-7B block design): mLSTM layer -> pre-norm block -> model.

Shapes: B batch, T time, H heads, K query/key head dim, V value head dim, d = d_model.
One block is ``x + mLSTM(RMSNorm(x))`` then ``x + SwiGLU(RMSNorm(x))``; the mLSTM layer is

    q, k = W_q x, W_k x (H*K each);  v = W_v x (H*V);  o = sigmoid(W_o x) (H*V)
    i, f = cap * tanh((W_i x + b_i) / cap), same for f          (one scalar per head and step, float32)
    h = mLSTM cell(q, k, v, i, f)                               (B x H x T x V)
    y = W_out (o * MultiHeadLayerNorm(h))

The cell applies exp to i and logsigmoid to f internally (stabilised); see ``xlstm_lab.kernels``.

Initialisation and gate precision follow NX-AI's xLSTM-7B training code (``mLSTMLayerV1`` in NX-AI/xlstm-jax,
config ``mLSTMv1_default``): W_q, W_k, W_v small init; W_o, W_i, W_f zero, so at the start every output gate
is sigmoid(0) = 1/2 and the input and forget gates are their biases (i = -10, f linearly spaced over [3, 6]
across heads); W_out Wang init. The gate pre-activations are computed in float32 even under bf16 autocast
(the training code's ``gate_dtype: float32``): over T steps the cell sums T log-forget values, so a bf16 gate
rounding error of ~1e-2 grows into an O(1) shift of the cumulative decay at T in the thousands.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xlstm_lab.kernels import MLSTMState, mlstm, mlstm_step
from xlstm_lab.models.config import ModelConfig, ModelInputError
from xlstm_lab.models.inputs import check_sequence_tokens, step_tokens
from xlstm_lab.models.layers import (
    MultiHeadLayerNorm,
    RMSNorm,
    SwiGLU,
    small_init_,
    soft_cap,
    wang_init_,
)
from xlstm_lab.models.state import RecurrentState

__all__ = ["MLSTMLayer", "XLSTMBlock", "XLSTMModel"]


class MLSTMLayer(nn.Module):
    """The mLSTM sequence mixer: projections, capped scalar gates, cell, per-head norm, output gate."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        opts = config.xlstm
        d, n_heads = config.d_model, config.n_heads
        self.n_heads, self.qk_head_dim, self.v_head_dim = n_heads, config.qk_head_dim, config.v_head_dim
        self.gate_soft_cap, self.chunk_size, self.backend = opts.gate_soft_cap, opts.chunk_size, opts.backend
        self.normalizer_grad = opts.normalizer_grad
        self.q = nn.Linear(d, config.qk_dim, bias=False)
        self.k = nn.Linear(d, config.qk_dim, bias=False)
        self.v = nn.Linear(d, config.v_dim, bias=False)
        self.ogate = nn.Linear(d, config.v_dim, bias=False)
        # the only biases of the model: one scalar per head for each gate
        self.igate = nn.Linear(d, n_heads, bias=True)
        self.fgate = nn.Linear(d, n_heads, bias=True)
        self.norm = MultiHeadLayerNorm(n_heads, config.v_head_dim, eps=opts.norm_eps)
        self.out = nn.Linear(config.v_dim, d, bias=False)
        self._init(config)

    def _init(self, config: ModelConfig) -> None:
        d = config.d_model
        for lin in (self.q, self.k, self.v):
            small_init_(lin.weight, d)
        # as the xLSTM-7B training code: output, input and forget gates start from their biases alone
        for lin in (self.ogate, self.igate, self.fgate):
            nn.init.zeros_(lin.weight)
        wang_init_(self.out.weight, config.v_dim, config.n_layers)
        with torch.no_grad():
            # i bias -10: input gates start almost closed; f bias in [3, 6]: forget gates start near 1
            self.igate.bias.fill_(config.xlstm.igate_bias_init)
            lo, hi = config.xlstm.fgate_bias_init
            self.fgate.bias.copy_(torch.linspace(lo, hi, self.n_heads))

    def _gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Capped input and forget gate pre-activations, (..., H) each, in float32 (float64 for float64 x).

        Autocast is switched off here: under ``torch.autocast(bfloat16)`` the gate projections would run, and
        return, in bf16 (see the module docstring for why that matters).
        """
        dtype = torch.promote_types(x.dtype, torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x_g = x.to(dtype)
            gates = []
            for lin in (self.igate, self.fgate):
                pre = F.linear(x_g, lin.weight.to(dtype), lin.bias.to(dtype))
                gates.append(soft_cap(pre, self.gate_soft_cap))
        return gates[0], gates[1]

    def forward(self, x: torch.Tensor, state: MLSTMState | None = None) -> tuple[torch.Tensor, MLSTMState]:
        """x: B x T x d -> (y: B x T x d, last cell state)."""
        b, t, _ = x.shape
        heads = (b, t, self.n_heads, -1)
        q = self.q(x).view(heads).transpose(1, 2)  # B H T K
        k = self.k(x).view(heads).transpose(1, 2)
        v = self.v(x).view(heads).transpose(1, 2)  # B H T V
        i, f = (g.transpose(1, 2) for g in self._gates(x))  # B H T
        h, last = mlstm(
            q,
            k,
            v,
            i,
            f,
            backend=self.backend,
            chunk_size=self.chunk_size,
            initial_state=state,
            return_last_state=True,
            normalizer_grad=self.normalizer_grad,
        )
        h = self.norm(h.transpose(1, 2))  # B T H*V
        return self.out(torch.sigmoid(self.ogate(x)) * h), last

    def step(self, x: torch.Tensor, state: MLSTMState) -> tuple[torch.Tensor, MLSTMState]:
        """One token: x: B x d -> (y: B x d, new state)."""
        b = x.shape[0]
        q = self.q(x).view(b, self.n_heads, -1)  # B H K
        k = self.k(x).view(b, self.n_heads, -1)
        v = self.v(x).view(b, self.n_heads, -1)  # B H V
        i, f = self._gates(x)  # B H
        h, state = mlstm_step(q, k, v, i, f, state)
        h = self.norm(h.unsqueeze(1)).squeeze(1)  # B H*V
        return self.out(torch.sigmoid(self.ogate(x)) * h), state


class XLSTMBlock(nn.Module):
    """Pre-norm residual block: x + mLSTM(norm(x)), then x + SwiGLU(norm(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        eps = config.xlstm.norm_eps
        self.norm_mlstm = RMSNorm(config.d_model, eps=eps)
        self.mlstm = MLSTMLayer(config)
        self.norm_ffn = RMSNorm(config.d_model, eps=eps)
        self.ffn = SwiGLU(config.d_model, config.d_ff, config.n_layers)

    def forward(self, x: torch.Tensor, state: MLSTMState | None = None) -> tuple[torch.Tensor, MLSTMState]:
        """x: B x T x d -> (B x T x d, last cell state)."""
        y, state = self.mlstm(self.norm_mlstm(x), state)
        x = x + y
        return x + self.ffn(self.norm_ffn(x)), state

    def step(self, x: torch.Tensor, state: MLSTMState) -> tuple[torch.Tensor, MLSTMState]:
        """x: B x d -> (B x d, new state)."""
        y, state = self.mlstm.step(self.norm_mlstm(x), state)
        x = x + y
        return x + self.ffn(self.norm_ffn(x)), state


class XLSTMModel(nn.Module):
    """Embedding -> n_layers xLSTM blocks -> RMSNorm -> untied head -> soft-capped logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.family != "xlstm":
            raise ValueError(f"XLSTMModel needs family='xlstm', got {config.family!r}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(XLSTMBlock(config) for _ in range(config.n_layers))
        self.out_norm = RMSNorm(config.d_model, eps=config.xlstm.norm_eps)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        small_init_(self.embedding.weight, config.d_model)
        small_init_(self.head.weight, config.d_model)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return soft_cap(self.head(self.out_norm(x)), self.config.xlstm.output_logit_soft_cap)

    def _check_state(self, state: object, batch: int) -> None:
        if not isinstance(state, RecurrentState):
            raise ModelInputError(f"the xLSTM's decode state is a RecurrentState, got {type(state).__name__}; "
                                  f"start from model.init_state(batch) or model.prefill(tokens)")
        if not state.layers:
            return
        if len(state.layers) != len(self.blocks):
            raise ModelInputError(f"the state holds {len(state.layers)} layers but the model has "
                                  f"{len(self.blocks)}; pass a state made by this model")
        state_batch = state.layers[0].C.shape[0]
        if state_batch != batch:
            raise ModelInputError(f"the state is for a batch of {state_batch} sequences but the tokens are for "
                                  f"{batch}; decode the same batch the state was made for")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: B x T (int64) -> logits: B x T x vocab."""
        check_sequence_tokens(tokens, "forward")
        return self.prefill(tokens)[0]

    def init_state(
        self, batch: int, device: torch.device | str | None = None, capacity: int | None = None
    ) -> RecurrentState:
        """An empty decode state (C = 0, n = 0, m = -inf per layer).

        ``capacity`` is accepted for API symmetry with the Transformer's KV cache and ignored: the state
        has the same size at any context length.
        """
        cfg = self.config
        device = device if device is not None else self.embedding.weight.device
        layers = [
            MLSTMState.zeros(batch, cfg.n_heads, cfg.qk_head_dim, cfg.v_head_dim, device=device)
            for _ in range(cfg.n_layers)
        ]
        return RecurrentState(layers=layers, length=0)

    def prefill(self, tokens: torch.Tensor, state: RecurrentState | None = None) -> tuple[torch.Tensor, RecurrentState]:
        """Process a prompt (chunkwise), optionally continuing from ``state``.

        Args:
            tokens: B x T token ids (integers), B, T >= 1.
            state: decode state to continue from, or None to start fresh.

        Returns:
            (logits B x T x vocab, state after the last token).

        Raises:
            ModelInputError: tokens not B x T integers, or a state of another type, depth or batch.
        """
        batch, _ = check_sequence_tokens(tokens, "prefill")
        if state is not None:
            self._check_state(state, batch)
        x = self.embedding(tokens)
        previous = state.layers if state is not None and state.layers else [None] * len(self.blocks)
        new_layers = []
        for block, layer_state in zip(self.blocks, previous, strict=True):
            x, layer_state = block(x, layer_state)
            new_layers.append(layer_state)
        length = (state.length if state is not None else 0) + tokens.shape[1]
        return self._logits(x), RecurrentState(layers=new_layers, length=length)

    def step(self, tokens: torch.Tensor, state: RecurrentState) -> tuple[torch.Tensor, RecurrentState]:
        """Decode one token per sequence with the recurrent cell (O(1) in the context length).

        Args:
            tokens: B (or B x 1) token ids: one per sequence.
            state: from ``init_state`` or ``prefill``.

        Returns:
            (logits B x vocab, new state).

        Raises:
            ModelInputError: not one integer token per sequence (B x k with k > 1 goes to ``prefill``), or a
                state of another type, depth or batch.
        """
        tokens = step_tokens(tokens)
        self._check_state(state, tokens.shape[0])
        x = self.embedding(tokens)
        if not state.layers:
            state = self.init_state(x.shape[0], device=x.device)
        new_layers = []
        for block, layer_state in zip(self.blocks, state.layers, strict=True):
            x, layer_state = block.step(x, layer_state)
            new_layers.append(layer_state)
        return self._logits(x), RecurrentState(layers=new_layers, length=state.length + 1)

"""Llama-style Transformer: causal multi-head attention with rotary embeddings -> block -> model.

Shapes: B batch, T time, H heads, D = d_model / H head dim. One block is ``x + Attn(RMSNorm(x))`` then
``x + SwiGLU(RMSNorm(x))``; no biases anywhere; embedding and head are untied. Decoding keeps a
``KVCache`` whose size grows linearly with the context (the cost the xLSTM state avoids).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xlstm_lab.models.config import ModelConfig, ModelInputError
from xlstm_lab.models.inputs import check_sequence_tokens, step_tokens
from xlstm_lab.models.layers import RMSNorm, Rotary, SwiGLU, small_init_, wang_init_
from xlstm_lab.models.state import KVCache

__all__ = ["CausalSelfAttention", "LlamaBlock", "LlamaModel"]


class CausalSelfAttention(nn.Module):
    """Multi-head causal attention via ``scaled_dot_product_attention``, optionally against a KV cache."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads, self.head_dim = config.n_heads, config.head_dim
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.rotary = Rotary(config.head_dim, theta=config.llama.rope_theta)
        for lin in (self.q, self.k, self.v):
            small_init_(lin.weight, d)
        wang_init_(self.out.weight, d, config.n_layers)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        """x: B x S x d at positions offset..offset+S-1 (offset = cache.length) -> B x S x d."""
        b, s, _ = x.shape
        offset = cache.length if cache is not None else 0
        heads = (b, s, self.n_heads, self.head_dim)
        q = self.rotary(self.q(x).view(heads).transpose(1, 2), offset)  # B H S D
        k = self.rotary(self.k(x).view(heads).transpose(1, 2), offset)
        v = self.v(x).view(heads).transpose(1, 2)
        if cache is not None:
            k, v = cache.append(layer, k, v)  # B H (offset+S) D
            k, v = k.to(q.dtype), v.to(q.dtype)
        if offset == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            # query at position offset+i may see keys 0..offset+i
            total = offset + s
            rows = torch.arange(s, device=x.device).unsqueeze(1) + offset
            mask = torch.arange(total, device=x.device).unsqueeze(0) <= rows  # S x total
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, s, -1))


class LlamaBlock(nn.Module):
    """Pre-norm residual block: x + Attn(norm(x)), then x + SwiGLU(norm(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        eps = config.llama.norm_eps
        self.norm_attn = RMSNorm(config.d_model, eps=eps)
        self.attn = CausalSelfAttention(config)
        self.norm_ffn = RMSNorm(config.d_model, eps=eps)
        self.ffn = SwiGLU(config.d_model, config.d_ff, config.n_layers)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        """x: B x S x d -> B x S x d."""
        x = x + self.attn(self.norm_attn(x), cache, layer)
        return x + self.ffn(self.norm_ffn(x))


class LlamaModel(nn.Module):
    """Embedding -> n_layers attention blocks -> RMSNorm -> untied head."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.family != "llama":
            raise ValueError(f"LlamaModel needs family='llama', got {config.family!r}")
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(LlamaBlock(config) for _ in range(config.n_layers))
        self.out_norm = RMSNorm(config.d_model, eps=config.llama.norm_eps)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        small_init_(self.embedding.weight, config.d_model)
        small_init_(self.head.weight, config.d_model)

    def _run(self, tokens: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        x = self.embedding(tokens)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        if cache is not None:
            cache.advance(tokens.shape[1])
        return self.head(self.out_norm(x))

    def _check_cache(self, cache: object, batch: int) -> None:
        if not isinstance(cache, KVCache):
            raise ModelInputError(f"the Transformer's decode state is a KVCache, got {type(cache).__name__}; "
                                  f"start from model.init_state(batch) or model.prefill(tokens)")
        if len(cache.keys) != len(self.blocks):
            raise ModelInputError(f"the cache holds {len(cache.keys)} layers but the model has {len(self.blocks)}; "
                                  f"pass a cache made by this model")
        if cache.keys[0].shape[0] != batch:
            raise ModelInputError(f"the cache is for a batch of {cache.keys[0].shape[0]} sequences but the tokens "
                                  f"are for {batch}; decode the same batch the cache was made for")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: B x T (int64) -> logits: B x T x vocab."""
        check_sequence_tokens(tokens, "forward")
        return self._run(tokens, None)

    def init_state(
        self,
        batch: int,
        device: torch.device | str | None = None,
        capacity: int | None = None,
        dtype: torch.dtype | None = None,
    ) -> KVCache:
        """An empty KV cache with room for ``capacity`` tokens (default: the context length); grows if needed.

        The cache is kept in the compute dtype: ``dtype`` if given, else the autocast dtype when autocast is on
        for the device (bf16 keys and values under ``torch.autocast(bfloat16)``, not the fp32 weights' dtype),
        else the weights' dtype. ``accounting.kv_cache_bytes(config, capacity, batch, dtype_bytes)`` with that
        dtype's width is then exactly its allocation.
        """
        cfg = self.config
        weight = self.embedding.weight
        device = torch.device(device) if device is not None else weight.device
        if dtype is None:
            autocast = torch.is_autocast_enabled(device.type)
            dtype = torch.get_autocast_dtype(device.type) if autocast else weight.dtype
        return KVCache.empty(
            cfg.n_layers,
            batch,
            cfg.n_heads,
            cfg.head_dim,
            capacity if capacity is not None else cfg.context_length,
            device=device,
            dtype=dtype,
        )

    def prefill(
        self, tokens: torch.Tensor, state: KVCache | None = None, *, capacity: int | None = None
    ) -> tuple[torch.Tensor, KVCache]:
        """Process a prompt and fill the cache.

        A new cache holds exactly ``capacity`` positions (default: the T prompt tokens), in the compute dtype
        (see ``init_state``); it is never sized to the whole context length. To decode n tokens without
        reallocation, pass ``capacity = T + n`` (``xlstm_lab.inference.prefill`` does); otherwise the first
        step doubles it.

        Args:
            tokens: B x T token ids (integers), B, T >= 1.
            state: cache to extend (updated in place), or None for a new one.
            capacity: positions of a new cache (>= T; ignored when ``state`` is given).

        Returns:
            (logits B x T x vocab, the cache).

        Raises:
            ModelInputError: tokens not B x T integers, a cache of another type, depth or batch, or a capacity
                below T.
        """
        batch, length = check_sequence_tokens(tokens, "prefill")
        if state is None:
            if capacity is not None and capacity < length:
                raise ModelInputError(f"capacity {capacity} is less than the {length} prompt tokens; pass at least "
                                      f"the prompt length (prompt + new tokens to decode without reallocation)")
            state = self.init_state(batch, capacity=length if capacity is None else capacity)
        self._check_cache(state, batch)
        return self._run(tokens, state), state

    def step(self, tokens: torch.Tensor, state: KVCache) -> tuple[torch.Tensor, KVCache]:
        """Decode one token per sequence (attends to all cached positions; cost grows with the context).

        Args:
            tokens: B (or B x 1) token ids: one per sequence.
            state: from ``init_state`` or ``prefill``; updated in place and returned.

        Returns:
            (logits B x vocab, the cache).

        Raises:
            ModelInputError: not one integer token per sequence (B x k with k > 1 goes to ``prefill``), or a
                cache of another type, depth or batch.
        """
        tokens = step_tokens(tokens)
        self._check_cache(state, tokens.shape[0])
        logits = self._run(tokens[:, None], state)
        return logits[:, 0], state

"""Incremental decoding: prefill then steps reproduces the full forward pass for both families."""

from dataclasses import replace

import pytest
import torch

from xlstm_lab.models import ModelInputError, RecurrentState, XLSTMOptions, build_model, get_shape

# fp32 end to end through a few blocks: agreement to 1e-4 absolute on logits of size O(1)
TOL_FP32 = 1e-4
T, PREFILL, BATCH = 45, 19, 2


def _config(name):
    cfg = get_shape(name)
    if cfg.family == "xlstm":
        # chunk 16 so the 45-token sequence spans several chunks and a partial last chunk
        cfg = replace(cfg, xlstm=XLSTMOptions(chunk_size=16))
    return cfg


def _model_and_tokens(name):
    torch.manual_seed(0)
    cfg = _config(name)
    model = build_model(cfg).eval()
    if cfg.family == "xlstm":
        # the gate weights start at zero (gates = biases, the same at every step); give them random weights so
        # these tests also cover input-dependent gating
        with torch.no_grad():
            for block in model.blocks:
                for lin in (block.mlstm.igate, block.mlstm.fgate, block.mlstm.ogate):
                    lin.weight.normal_(0.0, 0.3)
    tokens = torch.randint(0, cfg.vocab_size, (BATCH, T))
    return cfg, model, tokens


@pytest.mark.parametrize("name", ["xlstm-tiny", "llama-tiny", "xlstm-mini", "llama-mini"])
def test_prefill_then_steps_equals_forward(name):
    cfg, model, tokens = _model_and_tokens(name)
    with torch.no_grad():
        full = model(tokens)
        logits, state = model.prefill(tokens[:, :PREFILL])
        steps = [logits]
        for t in range(PREFILL, T):
            step_logits, state = model.step(tokens[:, t], state)
            assert step_logits.shape == (BATCH, cfg.vocab_size)
            steps.append(step_logits[:, None])
    assert full.shape == (BATCH, T, cfg.vocab_size)
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=TOL_FP32, rtol=0)
    length = state.length
    assert length == T


@pytest.mark.parametrize("name", ["xlstm-tiny", "llama-tiny"])
def test_steps_from_empty_state_equal_forward(name):
    cfg, model, tokens = _model_and_tokens(name)
    with torch.no_grad():
        full = model(tokens)
        # a small capacity forces the KV cache to grow during decoding
        state = model.init_state(BATCH, capacity=4) if cfg.family == "llama" else model.init_state(BATCH)
        steps = []
        for t in range(T):
            step_logits, state = model.step(tokens[:, t : t + 1], state)
            steps.append(step_logits[:, None])
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=TOL_FP32, rtol=0)


@pytest.mark.parametrize("name", ["xlstm-tiny", "llama-tiny"])
def test_two_prefills_equal_one(name):
    _, model, tokens = _model_and_tokens(name)
    with torch.no_grad():
        full = model(tokens)
        first, state = model.prefill(tokens[:, :PREFILL])
        second, state = model.prefill(tokens[:, PREFILL:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), full, atol=TOL_FP32, rtol=0)


def test_xlstm_state_size_does_not_grow():
    cfg, model, tokens = _model_and_tokens("xlstm-tiny")
    with torch.no_grad():
        _, short = model.prefill(tokens[:, :5])
        _, long = model.prefill(tokens)
    sizes = [sum(x.numel() for x in layer) for layer in short.layers]
    assert sizes == [sum(x.numel() for x in layer) for layer in long.layers]
    k, v = cfg.qk_head_dim, cfg.v_head_dim
    assert sizes[0] == BATCH * cfg.n_heads * (k * v + k + 1)  # C, n and m per head


@pytest.mark.parametrize("name", ["xlstm-tiny", "llama-tiny"])
def test_step_refuses_several_tokens_per_sequence(name):
    # B x k ids used to be flattened into B k sequences (silently so from an empty xLSTM state)
    _, model, tokens = _model_and_tokens(name)
    states = [model.init_state(BATCH)] + ([RecurrentState()] if name.startswith("xlstm") else [])
    for state in states:
        with torch.no_grad(), pytest.raises(ModelInputError, match="one token per sequence"):
            model.step(tokens[:, :3], state)
    with torch.no_grad():
        a, _ = model.step(tokens[:, 0], model.init_state(BATCH))
        b, _ = model.step(tokens[:, :1], model.init_state(BATCH))
    torch.testing.assert_close(a, b, atol=0, rtol=0)  # (B,) and (B, 1) are the same call


@pytest.mark.parametrize("name", ["xlstm-tiny", "llama-tiny"])
def test_bad_tokens_and_states_raise_model_input_error(name):
    cfg, model, tokens = _model_and_tokens(name)
    bad_calls = {
        "T = 0": lambda: model(tokens[:, :0]),
        "empty sequence": lambda: model.prefill(tokens[:, :0]),
        "integer": lambda: model(tokens.float()),
        r"\(B, T\)": lambda: model(tokens[0]),
        "B = 0": lambda: model.step(tokens[:0, 0], model.init_state(1)),
        "batch of 2": lambda: model.step(tokens[:1, 0], model.prefill(tokens[:, :4])[1]),
        "layers": lambda: model.step(tokens[:, 0], _drop_a_layer(model.init_state(BATCH))),
        "decode state": lambda: model.step(tokens[:, 0], object()),
    }
    for words, call in bad_calls.items():
        with torch.no_grad(), pytest.raises(ModelInputError, match=words):
            call()
    assert issubclass(ModelInputError, ValueError)


def _drop_a_layer(state):
    if isinstance(state, RecurrentState):
        return RecurrentState(layers=state.layers[:-1], length=state.length)
    state.keys.pop()
    state.values.pop()
    return state

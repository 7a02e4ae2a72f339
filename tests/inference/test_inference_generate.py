"""Prefill, step and greedy generation on both families' decode paths, and their input errors."""

import pytest
import torch

from xlstm_lab.inference import (
    InferenceInputError,
    check_lengths,
    generate,
    load_model,
    model_config,
    prefill,
    size_tags,
    step,
)


@pytest.mark.parametrize("family", ["xlstm", "llama"])
def test_generate_equals_greedy_on_the_full_forward(family):
    # the reference: re-run the whole sequence through forward() for every new token (no decode state at all)
    cfg = model_config(family, "tiny", context_length=64)
    model = load_model(cfg, seed=1)
    prompt = torch.randint(0, cfg.vocab_size, (2, 11), generator=torch.Generator().manual_seed(3))
    out = generate(model, prompt, 6)
    ref = prompt
    with torch.no_grad():
        for _ in range(6):
            ref = torch.cat([ref, model(ref)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert out.shape == (2, 17)
    assert torch.equal(out, ref)


@pytest.mark.parametrize("family", ["xlstm", "llama"])
def test_prefill_then_step_matches_forward_logits(family):
    cfg = model_config(family, "tiny", context_length=64)
    model = load_model(cfg)
    tokens = torch.randint(0, cfg.vocab_size, (3, 20))
    logits, state = prefill(model, tokens[:, :19], max_new_tokens=1)
    last, _ = step(model, tokens[:, 19], state)
    with torch.no_grad():
        full = model(tokens)
    torch.testing.assert_close(logits, full[:, 18], atol=1e-4, rtol=0)
    torch.testing.assert_close(last, full[:, 19], atol=1e-4, rtol=0)


def test_errors_name_the_problem():
    with pytest.raises(InferenceInputError, match="unknown family 'gpt'"):
        model_config("gpt", "tiny")
    with pytest.raises(InferenceInputError, match="unknown size 'huge'.*tiny, mini"):
        model_config("llama", "huge")
    cfg = model_config("llama", "tiny")
    with pytest.raises(InferenceInputError, match="longer than the context of 512"):
        check_lengths(cfg, 510, 3)
    with pytest.raises(InferenceInputError, match="at least 1 token"):
        check_lengths(cfg, 0, 3)
    model = load_model(cfg)
    with pytest.raises(InferenceInputError, match="longer than the context"):
        prefill(model, torch.zeros(1, 600, dtype=torch.long))
    with pytest.raises(InferenceInputError, match="unknown dtype"):
        load_model(cfg, dtype="float8")
    assert size_tags()[:2] == ("tiny", "mini") and "1.4b" in size_tags()

"""The split, the packed windows and the epoch order, checked against plain-Python references."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlstm_lab.data import (
    DOC_SEPARATOR,
    ContextTooLongError,
    Corpus,
    CorpusError,
    EmptyCorpusError,
    epoch_permutation,
    stream_sha256,
)

SEP = bytes([DOC_SEPARATOR])
M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """SplitMix64 finaliser on Python ints (Steele, Lea & Flood 2014; Vigna's splitmix64.c)."""
    x &= M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _reference_permutation(n: int, seed: int, epoch: int) -> list[int]:
    base = _splitmix64(_splitmix64(seed) + epoch)
    keys = [_splitmix64(base + i) for i in range(n)]
    return sorted(range(n), key=lambda i: (keys[i], i))


def _doc(i: int, n_lines: int) -> str:
    # distinct, numbered lines: any window of >= 12 bytes occurs once in a corpus built from these
    return "".join(f"d{i:03d} l{j:04d} é\n" for j in range(n_lines))


# ------------------------------------------------------------------------------------------------- the split
def test_splitmix_reference_matches_published_vector():
    # First output of Vigna's splitmix64.c seeded with 0: next() adds the golden gamma, then mixes.
    assert _splitmix64(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=6), st.floats(0.01, 0.6))
def test_each_document_is_split_into_train_head_and_val_tail(texts, val_frac):
    if not any(texts):
        texts = texts + ["x"]
    texts = [t.replace("\x1e", "") for t in texts]
    corpus = Corpus.from_texts("t", texts, val_frac=val_frac)
    heads = [p for p in corpus.train.tobytes().split(SEP)[:-1]] if corpus.train.size else []
    tails = [p for p in corpus.val.tobytes().split(SEP)[:-1]] if corpus.val.size else []
    # Independent reading of the rule: cut = n - floor(n * val_frac), moved off continuation bytes.
    ref_heads, ref_tails = [], []
    for t in texts:
        b = t.encode("utf-8")
        cut = len(b) - int(len(b) * val_frac)
        while cut < len(b) and (b[cut] & 0xC0) == 0x80:
            cut += 1
        if b[:cut]:
            ref_heads.append(b[:cut])
        if b[cut:]:
            ref_tails.append(b[cut:])
        b[:cut].decode("utf-8")  # neither piece starts or ends inside a character
        b[cut:].decode("utf-8")
    assert heads == ref_heads and tails == ref_tails
    assert corpus.n_documents == len(texts)


def test_no_document_text_is_in_both_streams():
    texts = [_doc(i, 40 + 7 * i) for i in range(5)]
    corpus = Corpus.from_texts("t", texts, val_frac=0.1)
    train_lines = set(corpus.train.tobytes().replace(SEP, b"").split(b"\n"))
    val_lines = [ln for ln in corpus.val.tobytes().replace(SEP, b"").split(b"\n") if ln]
    whole = [ln for ln in val_lines if len(ln) == len("d000 l0000 é".encode())]
    assert whole and not any(ln in train_lines for ln in whole)
    # and the two streams hold every byte of every document once (plus one separator per piece)
    n_text = sum(len(t.encode()) for t in texts)
    assert corpus.train.size + corpus.val.size == n_text + 2 * len(texts)


def test_stream_checksum_is_the_documented_byte_layout():
    corpus = Corpus.from_texts("t", ["abcdefghijklmnopqrstuvwxyz" * 4, "0123456789" * 9])
    tr, va = corpus.train.tobytes(), corpus.val.tobytes()
    ref = hashlib.sha256(len(tr).to_bytes(8, "little") + tr + len(va).to_bytes(8, "little") + va).hexdigest()
    assert corpus.sha256 == stream_sha256(corpus.train, corpus.val) == ref
    other = Corpus.from_texts("t", ["abcdefghijklmnopqrstuvwxyz" * 4, "0123456789" * 9], val_frac=0.2)
    assert other.sha256 != corpus.sha256


def test_streams_are_read_only_copies():
    text = np.frombuffer(b"hello world, hello world", dtype=np.uint8).copy()
    corpus = Corpus("t", text, text[:5], 1)
    text[0] = 0  # the caller's array changes; the corpus does not
    assert corpus.train[0] == ord("h")
    with pytest.raises(ValueError):
        corpus.train[0] = 1


# ------------------------------------------------------------------------------------------- training order
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 200), st.integers(0, 2**64 - 1), st.integers(0, 5))
def test_epoch_permutation_matches_reference(n, seed, epoch):
    perm = epoch_permutation(n, seed, epoch)
    assert perm.tolist() == _reference_permutation(n, seed, epoch)


def test_epoch_permutation_depends_on_seed_and_epoch():
    p = epoch_permutation(1000, 0, 0)
    assert sorted(p.tolist()) == list(range(1000))
    assert not np.array_equal(p, epoch_permutation(1000, 1, 0))
    assert not np.array_equal(p, epoch_permutation(1000, 0, 1))


@pytest.fixture(scope="module")
def numbered():
    return Corpus.from_texts("numbered", [_doc(i, 60 + 11 * i) for i in range(4)], val_frac=0.1)


@pytest.fixture(scope="module")
def noise():
    """Random bytes: every window of >= 5 tokens occurs once (asserted), so a row names its window."""
    rng = np.random.default_rng(12345)
    return Corpus("noise", rng.integers(0, 256, 4001, dtype=np.uint8), rng.integers(0, 256, 300, dtype=np.uint8), 1)


def _window_index(corpus: Corpus, context: int) -> dict[bytes, int]:
    t = corpus.train.tobytes()
    n = (len(t) - 1) // context
    index = {t[j * context: j * context + context + 1]: j for j in range(n)}
    assert len(index) == n  # every window is distinct, so a row names its window
    return index


@settings(max_examples=25, deadline=None)
@given(st.integers(4, 64), st.integers(1, 70), st.integers(0, 3))
def test_each_epoch_visits_every_window_once(noise, context, batch_size, seed):
    index = _window_index(noise, context)
    n = noise.n_train_sequences(context)
    assert n == len(index) == 4000 // context
    steps = -(-2 * n // batch_size)  # enough steps for two whole epochs
    rows = np.concatenate([noise.train_batch(s, batch_size, context, seed) for s in range(steps)])
    assert rows.shape == (steps * batch_size, context + 1) and rows.dtype == np.int64
    visited = [index[r.astype(np.uint8).tobytes()] for r in rows]
    for e in range(2):
        assert sorted(visited[e * n:(e + 1) * n]) == list(range(n))
        assert visited[e * n:(e + 1) * n] == _reference_permutation(n, seed, e)


def test_train_batch_is_a_pure_function(numbered):
    first = [numbered.train_batch(s, 7, 16, 3) for s in range(12)]
    again = [numbered.train_batch(s, 7, 16, 3) for s in reversed(range(12))][::-1]  # other order, warm cache
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    clone = Corpus.from_texts("numbered", [_doc(i, 60 + 11 * i) for i in range(4)], val_frac=0.1)
    assert np.array_equal(clone.train_batch(11, 7, 16, 3), first[11])  # a fresh object, a fresh process alike
    assert not np.array_equal(numbered.train_batch(0, 7, 16, 4), first[0])
    first[0][0, 0] = -5  # a returned batch is the caller's to change
    assert numbered.train_batch(0, 7, 16, 3)[0, 0] != -5


# ----------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("context,batch_size", [(1, 1000), (7, 3), (16, 5), (50, 64)])
def test_val_batches_score_every_val_token_once_in_order(numbered, context, batch_size):
    val = numbered.val.astype(np.int64)
    batches = list(numbered.val_batches(context, batch_size))
    assert all(b.dtype == np.int64 and b.shape[1] == context + 1 and 1 <= b.shape[0] <= batch_size
               for b in batches)
    assert all(b.shape[0] == batch_size for b in batches[:-1])
    rows = np.concatenate(batches)
    # window j is val[j*context : j*context + context + 1]
    for j, row in enumerate(rows):
        assert np.array_equal(row, val[j * context: j * context + context + 1])
    targets = rows[:, 1:].reshape(-1)
    n_scored = numbered.n_val_tokens(context)
    assert targets.size == n_scored
    assert np.array_equal(targets, val[1:1 + n_scored])  # each target position exactly once, in order
    assert 0 <= (val.size - 1) - n_scored < context  # only a tail shorter than one window is left out


def test_context_longer_than_validation_split_is_a_typed_error():
    corpus = Corpus.from_texts("short", ["x" * 200], val_frac=0.05)  # 10 val bytes + separator = 11 tokens
    assert corpus.val.size == 11
    assert corpus.n_val_tokens(10) == 10  # exactly context + 1 tokens: one window
    with pytest.raises(ContextTooLongError, match=r"validation split has 11 tokens.*shorter context"):
        corpus.val_batches(11, 4)
    with pytest.raises(ContextTooLongError):
        corpus.n_val_tokens(11)
    with pytest.raises(ContextTooLongError, match="training stream"):
        corpus.train_batch(0, 1, 500, 0)
    assert issubclass(ContextTooLongError, CorpusError) and issubclass(CorpusError, ValueError)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.train_batch(-1, 2, 4, 0),
        lambda c: c.train_batch(0, 0, 4, 0),
        lambda c: c.train_batch(0, 2, 0, 0),
        lambda c: c.train_batch(0, 2, 4, -1),
        lambda c: c.train_batch(0, 2.5, 4, 0),
        lambda c: c.val_batches(4, 0),
        lambda c: Corpus.from_texts("t", ["abc"], val_frac=0.0),
        lambda c: Corpus.from_texts("t", ["abc"], val_frac=1.0),
        lambda c: Corpus.from_texts("t", "a single string"),
        lambda c: Corpus("t", np.array([1, 300]), np.array([1, 2]), 1),
        lambda c: Corpus("t", np.array([0.5, 2.0]), np.array([1, 2]), 1),
    ],
)
def test_bad_arguments_are_typed_errors(numbered, call):
    with pytest.raises(CorpusError):
        call(numbered)


def test_corpus_without_text_is_refused():
    with pytest.raises(EmptyCorpusError, match="no text"):
        Corpus.from_texts("empty", ["", ""])
    with pytest.raises(EmptyCorpusError):
        Corpus.from_texts("none", [])

"""Documents to token streams: the fixed per-document validation split, packed windows, seeded epoch order.

The whole data path of a training run is here, as pure functions of their arguments:

- ``split_document``: a document's last ``val_frac`` of bytes (moved forward to a UTF-8 character start) is
  validation text, the rest training text; so every document, long or short, is represented in both.
- ``pack``: the training pieces, each followed by ``DOC_SEPARATOR``, concatenated in document order; the same
  for the validation pieces (a document whose piece is empty contributes nothing, not even a separator).
- ``Corpus.train_batch``: the training stream cut into non-overlapping windows of ``context + 1`` tokens
  (stride ``context``: window ``j`` is tokens ``j*context .. j*context + context``), visited in a seeded
  permutation per epoch (:func:`epoch_permutation`).
- ``Corpus.val_batches``: the validation stream cut the same way, in order, without shuffling.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from xlstm_lab.data.errors import ContextTooLongError, CorpusArgumentError, CorpusError, EmptyCorpusError
from xlstm_lab.data.tokenizer import VOCAB_SIZE, encode

__all__ = [
    "DOC_SEPARATOR",
    "DEFAULT_VAL_FRAC",
    "Corpus",
    "split_document",
    "pack",
    "stream_sha256",
    "epoch_permutation",
]

DOC_SEPARATOR = 0x1E
"""Token appended after every document piece: the ASCII record separator, absent from ordinary text."""
DEFAULT_VAL_FRAC = 0.05
"""Share of every document (its last bytes) held out for validation."""

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _check_val_frac(val_frac: float) -> float:
    v = float(val_frac)
    if not 0.0 < v < 1.0:
        raise CorpusArgumentError(f"val_frac must lie in (0, 1), got {val_frac!r}; the lab default is 0.05")
    return v


def _check_int(name: str, value: object, minimum: int) -> int:
    try:
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise CorpusArgumentError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from None
    if v < minimum:
        raise CorpusArgumentError(f"{name} must be >= {minimum}, got {v}")
    return v


def split_document(tokens: np.ndarray, val_frac: float = DEFAULT_VAL_FRAC) -> tuple[np.ndarray, np.ndarray]:
    """Split one document into its training head and validation tail.

    Args:
        tokens: uint8 [n] the document's bytes.
        val_frac: share of the bytes held out, in (0, 1).

    Returns:
        (train [cut], val [n - cut]) with ``cut = n - floor(n * val_frac)`` moved forward past UTF-8
        continuation bytes (0x80-0xBF), so neither piece starts inside a character. Views of ``tokens``.
    """
    val_frac = _check_val_frac(val_frac)
    n = int(tokens.shape[0])
    cut = n - int(n * val_frac)
    while cut < n and 0x80 <= int(tokens[cut]) < 0xC0:
        cut += 1
    return tokens[:cut], tokens[cut:]


def pack(documents: Sequence[np.ndarray], val_frac: float = DEFAULT_VAL_FRAC) -> tuple[np.ndarray, np.ndarray]:
    """Split every document and concatenate the pieces into the training and validation streams.

    Args:
        documents: uint8 arrays, one per document, in the corpus order.
        val_frac: share of every document held out for validation.

    Returns:
        (train [n_train], val [n_val]) uint8 streams; each non-empty piece is followed by ``DOC_SEPARATOR``.
    """
    sep = np.array([DOC_SEPARATOR], dtype=np.uint8)
    train_parts: list[np.ndarray] = []
    val_parts: list[np.ndarray] = []
    for doc in documents:
        head, tail = split_document(np.asarray(doc, dtype=np.uint8), val_frac)
        for piece, parts in ((head, train_parts), (tail, val_parts)):
            if piece.size:
                parts += [piece, sep]
    empty = np.zeros(0, dtype=np.uint8)
    train = np.concatenate(train_parts) if train_parts else empty
    val = np.concatenate(val_parts) if val_parts else empty
    return train, val


def stream_sha256(train: np.ndarray, val: np.ndarray) -> str:
    """sha256 (hex) of both token streams: 8-byte little-endian length and bytes of train, then of val."""
    h = hashlib.sha256()
    for stream in (train, val):
        data = np.ascontiguousarray(stream, dtype=np.uint8)
        h.update(int(data.shape[0]).to_bytes(8, "little"))
        h.update(data.tobytes())
    return h.hexdigest()


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014) on uint64 arrays; arithmetic wraps modulo 2**64."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x & _M64


@functools.lru_cache(maxsize=8)
def _epoch_permutation_cached(n: int, seed: int, epoch: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        base = _splitmix64(np.array([seed], dtype=np.uint64))
        base = _splitmix64(base + np.uint64(epoch))
        keys = _splitmix64(np.arange(n, dtype=np.uint64) + base)
    perm = np.argsort(keys, kind="stable")
    perm.flags.writeable = False
    return perm


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which an epoch visits the training windows.

    Sorts SplitMix64 hashes of (seed, epoch, window index) rather than calling numpy's generators, so the
    order is fixed by this code alone, identical on every machine and numpy version.

    Args:
        n: number of windows; seed: run seed (0 <= seed < 2**64); epoch: epoch index (>= 0).

    Returns:
        int64 [n], a permutation of 0..n-1 (read-only; cached for the last few (n, seed, epoch)).
    """
    n = _check_int("n", n, 0)
    seed = _check_int("seed", seed, 0)
    epoch = _check_int("epoch", epoch, 0)
    if seed >= 2**64:
        raise CorpusArgumentError(f"seed must be < 2**64, got {seed}")
    return _epoch_permutation_cached(n, seed, epoch)


@dataclass(frozen=True, eq=False)
class Corpus:
    """A byte-token corpus split into a training and a validation stream.

    Build with :func:`xlstm_lab.data.load_corpus` or :meth:`from_texts`. Every method is a pure function of
    its arguments and the two streams (so a resumed run sees the same batches).

    Attributes:
        name: what was loaded (a registered name, a path or ``hf:<dataset>``).
        train: uint8 [n_train] training stream (read-only).
        val: uint8 [n_val] validation stream (read-only).
        n_documents: documents the streams were built from.
        val_frac: share of every document held out for validation.
        document_names: one label per document (file name, book, or index), in stream order.
        document_bytes: UTF-8 size of every document, in stream order.
        sha256: :func:`stream_sha256` of (train, val): equal checksums mean equal data, so it keys runs.
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    n_documents: int
    val_frac: float = DEFAULT_VAL_FRAC
    document_names: tuple[str, ...] = ()
    document_bytes: tuple[int, ...] = ()
    sha256: str = ""

    def __post_init__(self) -> None:
        for field in ("train", "val"):
            raw = np.asarray(getattr(self, field))
            if raw.dtype != np.uint8 and raw.size and (
                not np.issubdtype(raw.dtype, np.integer) or raw.min() < 0 or raw.max() > 255
            ):
                raise CorpusArgumentError(f"Corpus.{field} must hold byte tokens 0..255, got dtype {raw.dtype}; "
                                          "encode text with xlstm_lab.data.encode")
            arr = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1)
            if arr.flags.writeable:  # a private read-only copy: nobody can change the data behind the sha256
                arr = arr.copy()
                arr.flags.writeable = False
            object.__setattr__(self, field, arr)
        digest = stream_sha256(self.train, self.val)
        if self.sha256 and self.sha256 != digest:
            raise CorpusError(
                f"corpus {self.name!r}: token streams hash to {digest}, not the recorded {self.sha256}; the "
                "streams changed after the checksum was taken: rebuild them (load_corpus does so on its own)"
            )
        object.__setattr__(self, "sha256", digest)

    @classmethod
    def from_documents(
        cls, name: str, documents: Sequence[np.ndarray], val_frac: float = DEFAULT_VAL_FRAC,
        document_names: Sequence[str] | None = None,
    ) -> Corpus:
        """Split and pack already-encoded documents (uint8 arrays) into a corpus."""
        docs = [np.asarray(d, dtype=np.uint8).reshape(-1) for d in documents]
        if not docs or sum(int(d.shape[0]) for d in docs) == 0:
            raise EmptyCorpusError(f"corpus {name!r} has no text ({len(docs)} documents, 0 bytes); "
                                   "give at least one non-empty document")
        names = tuple(document_names) if document_names is not None else tuple(str(i) for i in range(len(docs)))
        if len(names) != len(docs):
            raise CorpusArgumentError(f"{len(names)} document names for {len(docs)} documents")
        train, val = pack(docs, val_frac)
        return cls(name, train, val, len(docs), float(val_frac), names, tuple(int(d.shape[0]) for d in docs))

    @classmethod
    def from_texts(cls, name: str, texts: Sequence[str], val_frac: float = DEFAULT_VAL_FRAC) -> Corpus:
        """A small in-memory corpus (tests, notebooks): one document per string."""
        if isinstance(texts, str):
            raise CorpusArgumentError("from_texts expects a sequence of documents; wrap a single text in a list")
        return cls.from_documents(name, [encode(t) for t in texts], val_frac)

    @property
    def vocab_size(self) -> int:
        """Distinct token values: 256 (bytes), ``xlstm_lab.models.shapes.BYTE_VOCAB_SIZE``."""
        return VOCAB_SIZE

    # -- training windows ---------------------------------------------------------------------------------
    def n_train_sequences(self, context: int) -> int:
        """Windows of ``context + 1`` tokens (stride ``context``) in the training stream: one epoch's worth."""
        context = _check_int("context", context, 1)
        n = (int(self.train.shape[0]) - 1) // context
        if n < 1:
            raise ContextTooLongError(
                f"corpus {self.name!r}: the training stream has {self.train.shape[0]} tokens, fewer than "
                f"context + 1 = {context + 1}; use a shorter context or a larger corpus"
            )
        return n

    def train_batch(self, step: int, batch_size: int, context: int, seed: int) -> np.ndarray:
        """The training batch of one optimiser step.

        Window ``g`` of the concatenated epochs (``g = step*batch_size + row``) is window
        ``epoch_permutation(n, seed, g // n)[g % n]`` of the training stream, ``n = n_train_sequences(context)``.

        Args:
            step: optimiser step (>= 0). batch_size: rows (>= 1). context: predicted tokens per row (>= 1).
            seed: data-order seed (>= 0).

        Returns:
            int64 [batch_size, context + 1]; inputs are ``[:, :-1]``, targets ``[:, 1:]``.
        """
        step = _check_int("step", step, 0)
        batch_size = _check_int("batch_size", batch_size, 1)
        n = self.n_train_sequences(context)
        g = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
        epochs, pos = np.divmod(g, n)
        windows = np.empty(batch_size, dtype=np.int64)
        for epoch in np.unique(epochs):
            sel = epochs == epoch
            windows[sel] = epoch_permutation(n, seed, int(epoch))[pos[sel]]
        return self._gather(self.train, windows * context, context)

    # -- validation windows -------------------------------------------------------------------------------
    def _n_val_windows(self, context: int) -> int:
        context = _check_int("context", context, 1)
        n = (int(self.val.shape[0]) - 1) // context
        if n < 1:
            raise ContextTooLongError(
                f"corpus {self.name!r}: the validation split has {self.val.shape[0]} tokens, fewer than "
                f"context + 1 = {context + 1}; use a shorter context, a larger val_frac (now {self.val_frac}) "
                "or more text"
            )
        return n

    def n_val_tokens(self, context: int) -> int:
        """Predicted tokens the validation loss averages over: ``floor((n_val - 1) / context) * context``.

        Every validation token from the second one up to that count is predicted exactly once; the
        final fewer-than-``context`` tokens, which fill no whole window, are left out.
        """
        return self._n_val_windows(context) * int(context)

    def val_batches(self, context: int, batch_size: int) -> Iterator[np.ndarray]:
        """The validation stream in order, as non-overlapping windows (stride ``context``).

        Args:
            context: predicted tokens per row. batch_size: rows per batch (the last batch may have fewer).

        Yields:
            int64 [<= batch_size, context + 1].

        Raises:
            ContextTooLongError: the validation stream is shorter than ``context + 1`` (raised on the call,
                before iteration starts).
        """
        n = self._n_val_windows(context)
        batch_size = _check_int("batch_size", batch_size, 1)
        return self._iter_val(n, int(context), batch_size)

    def _iter_val(self, n: int, context: int, batch_size: int) -> Iterator[np.ndarray]:
        for first in range(0, n, batch_size):
            starts = np.arange(first, min(first + batch_size, n), dtype=np.int64) * context
            yield self._gather(self.val, starts, context)

    @staticmethod
    def _gather(stream: np.ndarray, starts: np.ndarray, context: int) -> np.ndarray:
        idx = starts[:, None] + np.arange(context + 1, dtype=np.int64)[None, :]
        return stream[idx].astype(np.int64)

    # -- description --------------------------------------------------------------------------------------
    def summary(self) -> dict[str, object]:
        """Sizes and checksum for a data card: documents, bytes in train and val, val share, sha256."""
        n_train, n_val = int(self.train.shape[0]), int(self.val.shape[0])
        return {
            "name": self.name,
            "documents": self.n_documents,
            "text_bytes": int(sum(self.document_bytes)),
            "train_tokens": n_train,
            "val_tokens": n_val,
            "val_share": n_val / max(n_train + n_val, 1),
            "sha256": self.sha256,
        }

    def __repr__(self) -> str:
        return (f"Corpus(name={self.name!r}, n_documents={self.n_documents}, train={self.train.shape[0]:,} "
                f"tokens, val={self.val.shape[0]:,} tokens, sha256={self.sha256[:12]}…)")

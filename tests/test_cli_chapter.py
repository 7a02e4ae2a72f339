"""``xlstm-lab chapter``: parameter names checked against the chapter, values coerced, executed, rendered."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from xlstm_lab.cli import main
from xlstm_lab.cli.chapter import CliError, coerce, parse_params, read_parameters

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

# A tiny chapter: glued numbers in the prose, the package's own checks, and a cell that fails on request.
TOY = '''---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Toy chapter

```{code-cell} ipython3
:tags: [parameters]

c_min = 5e18  # FLOPs
c_max = 2e20
budgets = [1.0e+19, 1.0e+20]
steps = 8
label = "a"
fail = False
```

```{code-cell} ipython3
from myst_nb import glue

from xlstm_lab.params import Integer, Number, NumberList, check_params, less

check_params(globals(), {"c_min": Number(positive=True), "c_max": Number(positive=True),
                         "budgets": NumberList(positive=True), "steps": Integer(lo=1), "label": str, "fail": bool},
             relations=[less("c_min", "c_max")])
if fail:
    raise ValueError("toy failure on purpose")
glue("ratio", c_max / c_min, display=False)
glue("n_budgets", len(budgets), display=False)
```

The range spans a factor of {glue:text}`ratio:.1f` over {glue:text}`n_budgets` budgets.
'''


def _text(page: Path) -> str:
    """The visible text of an HTML page (scripts dropped, tags stripped, entities decoded)."""
    raw = re.sub(r"<script.*?</script>", " ", page.read_text(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", raw)))


@pytest.fixture
def toy(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "toy.md").write_text(TOY)
    return folder


def test_reads_names_and_defaults_of_the_parameters_cell(toy):
    assert read_parameters(toy / "toy.md") == {
        "c_min": 5e18, "c_max": 2e20, "budgets": [1e19, 1e20], "steps": 8, "label": "a", "fail": False}


def test_unknown_name_is_refused_with_the_closest_valid_one(capsys):
    rc = main(["chapter", "counting_compute", "-p", "c_mni", "1e19", "--notebooks", str(NOTEBOOKS)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "unknown parameter 'c_mni'" in err[0] and "did you mean 'c_min'?" in err[0]
    assert "context_lengths, chart_size, c_min, c_max" in err[0]


def test_unknown_name_in_a_params_file_is_refused(toy, tmp_path, capsys):
    (tmp_path / "p.yaml").write_text("c_min: 1.0e+19\nfit_gama: true\n")
    rc = main(["chapter", "toy", "-f", str(tmp_path / "p.yaml"), "--notebooks", str(toy)])
    assert rc == 2 and "unknown parameter 'fit_gama'" in capsys.readouterr().err


def test_unknown_chapter_suggests_one(capsys):
    assert main(["chapter", "countng_compute", "--notebooks", str(NOTEBOOKS)]) == 2
    assert "did you mean 'counting_compute'?" in capsys.readouterr().err


@pytest.mark.parametrize("value, default, expected", [
    ("1e12", 5e18, 1e12),  # YAML 1.1 reads 1e12 as a string
    (3, 5e18, 3.0),
    ("1e3", 8, 1000),  # whole number where the default is an int
    (16384, 8192, 16384),
    ("[1e11, 3e11]", [1.0e19], [1e11, 3e11]),  # papermill-style list passed as one string
    ("1e11,3e11", [1.0e19], [1e11, 3e11]),
    (2e12, [1.0e19], [2e12]),  # one number where a list is expected
    ([1, "2e3"], [1, 2], [1, 2000]),  # a list of ints stays ints
    (["rpj"], ["c4", "rw"], ["rpj"]),  # a list of strings is left alone
    (True, False, True),
    (123, "abc", "123"),
    (None, 5e18, None),  # passed on: the chapter's checks say whether None is allowed
    (2.5, 8, 2.5),  # a fraction where the default is whole: passed on for the chapter's check to judge
])
def test_coerce_to_the_default_type(value, default, expected):
    got = coerce("x", value, default)
    assert got == expected and type(got) is type(expected)
    if isinstance(expected, list):
        assert [type(g) for g in got] == [type(e) for e in expected]


@pytest.mark.parametrize("value, default, fragment", [
    ("abc", 5e18, "must be a number"),
    ("1e3", True, "true or false"),
    ("[1e11, x]", [1.0e19], "list of numbers"),
    ("many", 8, "whole number"),
])
def test_coerce_refuses_a_value_of_another_type(value, default, fragment):
    with pytest.raises(CliError, match=fragment) as info:
        coerce("x", value, default)
    assert "'x'" in str(info.value) and repr(default) in str(info.value)


def test_p_values_are_read_as_yaml_and_p_wins_over_the_file(tmp_path):
    (tmp_path / "p.yaml").write_text("c_min: 1.0e+19\nsteps: 4\n")
    defaults = {"c_min": 5e18, "steps": 8, "budgets": [1e19], "fail": False}
    got = parse_params([["steps", "16"], ["budgets", "[1e11, 3e11]"], ["fail", "yes"]], [str(tmp_path / "p.yaml")],
                       defaults)
    assert got == {"c_min": 1e19, "steps": 16, "budgets": [1e11, 3e11], "fail": True}


@pytest.mark.slow
def test_parameter_error_inside_the_chapter_is_one_line_exit_2(toy, tmp_path, capsys):
    rc = main(["chapter", "toy", "-p", "c_min", "3e20", "--notebooks", str(toy), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "c_min < c_max" in err[0] and "c_min = 3e+20" in err[0] and "c_max = 2e+20" in err[0]


@pytest.mark.slow
def test_a_raising_cell_exits_1_with_its_error(toy, tmp_path, capsys):
    rc = main(["chapter", "toy", "-p", "fail", "true", "--notebooks", str(toy), "--out", str(tmp_path / "o"),
               "--no-html"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "ValueError: toy failure on purpose" in err.strip().splitlines()[-1]


@pytest.mark.slow
def test_toy_chapter_renders_its_glued_numbers(toy, tmp_path, capsys):
    # ratio = 4e19 / 5e18 = 8.0 and 3 budgets: known from the parameters, not from the code under test.
    out = tmp_path / "o"
    rc = main(["chapter", "toy", "-p", "c_max", "4e19", "-p", "budgets", "[1e19, 2e19, 3e19]", "--notebooks",
               str(toy), "--out", str(out), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert res["parameters"] == {"c_max": 4e19, "budgets": [1e19, 2e19, 3e19]}
    assert Path(res["notebook"]) == (out / "toy.ipynb").resolve() and Path(res["notebook"]).is_file()
    text = _text(Path(res["html"]))
    assert "{glue" not in text
    assert "spans a factor of 8.0 over 3 budgets" in text


@pytest.mark.slow
def test_real_chapter_end_to_end(tmp_path, capsys):
    """counting_compute (the fastest chapter) with new contexts: the prose quotes them, no placeholder is left."""
    out = tmp_path / "cc"
    rc = main(["chapter", "counting_compute", "-p", "context_lengths", "[1536, 3072]", "-p", "chart_size", "400m",
               "--notebooks", str(NOTEBOOKS), "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert rc == 0
    assert lines == [f"Executed notebook: {(out / 'counting_compute.ipynb').resolve()}",
                     f"HTML page: {(out / 'html' / 'counting_compute.html').resolve()}"]
    raw = (out / "html" / "counting_compute.html").read_text()
    assert "{glue" not in raw
    text = _text(out / "html" / "counting_compute.html")
    assert "For the 400m Transformer" in text and "from 1536 to 3072 tokens of context" in text
    nb = json.loads((out / "counting_compute.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "context_lengths = [1536, 3072]" in "".join(injected[0]["source"])

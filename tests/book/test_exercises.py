"""Exercises, learning goals and the instructors' edition of the book.

Source checks (no build needed): every chapter has >= 3 exercises, each with one solution hidden behind a toggle, and
every number a solution quotes is glued by its chapter. Configuration checks: sphinx-exercise is enabled and pinned,
and the instructors' config shows the solutions. One browser check (marked `browser`) opens the built book and
finds the solutions collapsed until clicked.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = ROOT / "book" / "exercises"
# Every chapter has exercises (the issue: "Exercises in every chapter"), new chapters included.
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.md"))

FENCE = re.compile(r"^```\{(exercise|solution)\}[ \t]*(.*?)\n(.*?)^```[ \t]*$", re.M | re.S)
OPTION = re.compile(r"^:(\w+):[ \t]*(.*)$", re.M)
GLUE_REF = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z0-9_]+)(?::[^`]*)?`")
# glue("key", ...), put("key", ...) and f-string keys such as put(f"ls_der_a_{fam}", ...), in the chapter source
GLUED = re.compile(r"""\b(?:glue|put)\(\s*(f?)(["'])(.+?)\2""")


def _directives(text: str) -> list[dict]:
    out = []
    for kind, arg, body in FENCE.findall(text):
        opts = dict(OPTION.findall(body))
        out.append({"kind": kind, "arg": arg.strip(), "options": opts, "body": body})
    return out


def _glued_patterns(source: str) -> list[re.Pattern]:
    pats = []
    for is_f, _, key in GLUED.findall(source):
        pats.append(re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(key)) if is_f else re.escape(key)))
    return pats


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_has_three_or_more_exercises_each_with_a_hidden_solution(chapter):
    path = EXERCISES / f"{chapter}.md"
    assert path.exists(), f"{path} missing: each chapter's exercises live in book/exercises/<chapter>.md"
    found = _directives(path.read_text())
    exercises = [d for d in found if d["kind"] == "exercise"]
    solutions = [d for d in found if d["kind"] == "solution"]
    assert len(exercises) >= 3, f"{chapter}: {len(exercises)} exercises, the issue asks for 3-5"
    labels = [d["options"].get("label") for d in exercises]
    assert all(labels), f"{chapter}: an exercise without :label: cannot be linked to its solution"
    assert len(set(labels)) == len(labels), f"{chapter}: duplicate exercise labels {labels}"
    targets = [d["arg"] for d in solutions]
    assert sorted(targets) == sorted(labels), f"{chapter}: solutions {targets} do not match exercises {labels} one to one"
    for d in solutions:
        assert "dropdown" in d["options"].get("class", "").split(), f"{chapter}: solution {d['arg']} is not hidden"


def test_exercise_labels_are_unique_across_the_book():
    labels = [d["options"].get("label") for ch in CHAPTERS for d in _directives((EXERCISES / f"{ch}.md").read_text())
              if d["kind"] == "exercise"]
    assert len(set(labels)) == len(labels)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_glued_number_in_the_exercises_is_glued_by_the_chapter(chapter):
    """A solution may quote only numbers its chapter computes: every {glue} key must be glued in the notebook."""
    refs = set(GLUE_REF.findall((EXERCISES / f"{chapter}.md").read_text()))
    assert refs, f"{chapter}: the solutions quote no computed number"
    patterns = _glued_patterns((ROOT / "notebooks" / f"{chapter}.md").read_text())
    missing = sorted(k for k in refs if not any(p.fullmatch(k) for p in patterns))
    assert not missing, f"{chapter}: glue keys used in book/exercises/{chapter}.md but never glued: {missing}"


def test_glue_pattern_finder_sees_fstrings_and_misses_typos():
    """The check above must be able to fail: a typo'd key is not matched, an f-string key is."""
    pats = _glued_patterns('put(f"ls_der_a_{fam}", a)\nglue("t_star", x)')
    assert any(p.fullmatch("ls_der_a_llama") for p in pats)
    assert any(p.fullmatch("t_star") for p in pats)
    assert not any(p.fullmatch("t_stars") for p in pats)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_includes_its_exercises_last_and_opens_with_learning_goals(chapter):
    text = (ROOT / "notebooks" / f"{chapter}.md").read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings and headings[-1] == "Exercises", f"{chapter}: the last section is {headings[-1:]}, not Exercises"
    tail = text[text.rindex("## Exercises"):]
    assert f"```{{include}} ../book/exercises/{chapter}.md" in tail
    title = re.search(r"^# .+\n\n```\{admonition\} Learning goals\n(.*?)^```", text, re.M | re.S)
    assert title, f"{chapter}: no 'Learning goals' admonition right under the title"
    assert len(re.findall(r"^- ", title.group(1), re.M)) == 3


@pytest.mark.parametrize("chapter", ["counting_compute", "mlstm_kernels"])
def test_takeaway_comes_before_the_parameters(chapter):
    text = (ROOT / "notebooks" / f"{chapter}.md").read_text()
    assert text.index("**Takeaway.**") < text.index(":tags: [parameters]")


def test_sphinx_exercise_is_enabled_pinned_and_its_files_are_not_pages():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    assert "book/exercises/*" in config["exclude_patterns"]
    assert re.search(r'"sphinx-exercise==1\.2\.1"', (ROOT / "pyproject.toml").read_text())
    toc = (ROOT / "_toc.yml").read_text()
    assert "book/course" in toc and "book/exercises" not in toc


def _instructors_module():
    spec = importlib.util.spec_from_file_location("instructors_config", EXERCISES / "instructors_config.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _selector_matches(selector: str, classes: set[str]) -> bool:
    """Whether a comma-separated list of compound class selectors (".a.b, .c") matches an element's classes."""
    for part in (p.strip() for p in selector.split(",")):
        wanted = set(filter(None, part.split(".")))
        if part.startswith(".") and " " not in part and wanted <= classes:
            return True
    return False


# What sphinx-exercise 1.2.1 writes for a solution with `:class: dropdown`: <div class="solution dropdown admonition">
SOLUTION_CLASSES = {"solution", "dropdown", "admonition"}
TOGGLEBUTTON_DEFAULT = ".toggle, .admonition.dropdown"  # sphinx-togglebutton's default selector


def test_students_edition_collapses_solutions_and_instructors_edition_does_not(tmp_path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    students = config["sphinx"]["config"].get("togglebutton_selector", TOGGLEBUTTON_DEFAULT)
    assert _selector_matches(students, SOLUTION_CLASSES), "make book must hide the solutions behind a toggle"
    mod = _instructors_module()
    out = tmp_path / "solutions" / "_config.yml"
    assert mod.main([str(ROOT / "_config.yml"), str(out)]) == 0
    instructors = yaml.safe_load(out.read_text())
    selector = instructors["sphinx"]["config"]["togglebutton_selector"]
    assert not _selector_matches(selector, SOLUTION_CLASSES), f"selector {selector!r} still collapses the solutions"
    assert _selector_matches(selector, {"toggle"}), "other toggles (`.toggle`) keep working"
    for name, path in instructors["sphinx"]["local_extensions"].items():
        assert Path(path).is_absolute() and (Path(path) / f"{name}.py").exists(), (name, path)
    # apart from these, the instructors' edition is the same book
    drop = {"title", "sphinx"}
    assert {k: v for k, v in instructors.items() if k not in drop} == {k: v for k, v in config.items() if k not in drop}
    assert mod.main([str(tmp_path / "missing.yml"), str(out)]) == 2
    with pytest.raises(ValueError, match="parsed _config.yml"):
        mod.instructors_config(["not", "a", "mapping"], ROOT)


def test_selector_matcher_is_not_vacuous():
    assert _selector_matches(TOGGLEBUTTON_DEFAULT, SOLUTION_CLASSES)
    assert not _selector_matches(".toggle", SOLUTION_CLASSES)


def test_make_book_solutions_builds_into_its_own_folder_with_that_config():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^book-solutions:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "Makefile has no book-solutions target"
    body = recipe.group(1).replace("$(SOLUTIONS)", "_build/solutions").replace("$(BIN)", ".venv/bin")
    assert "book/exercises/instructors_config.py _config.yml _build/solutions/_config.yml" in body
    assert "--config _build/solutions/_config.yml" in body
    assert "_build/solutions/html" in body
    assert "--path-output . " not in body, "the instructors' edition must not overwrite _build/html"
    assert "make book-solutions" in (ROOT / "book" / "course.md").read_text()


@pytest.mark.browser
def test_solutions_are_hidden_until_clicked_in_the_built_book():
    from test_browser import CHROMIUM, CHROMIUM_ARGS, HTML

    page_path = HTML / "notebooks" / "loss_surface.html"
    if not page_path.exists():
        pytest.fail(f"no built book at {HTML}: run `make book` first (`make test` does it for you).")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.goto(page_path.as_uri(), wait_until="load")
        solutions = page.locator("div.solution")
        n = solutions.count()
        assert n >= 3
        body = solutions.first.locator(":scope > :not(.admonition-title)").first  # the solution's text
        page.wait_for_selector("div.solution button.toggle-button")
        assert not body.is_visible(), "a solution is visible before its toggle is clicked"
        solutions.first.locator("button.toggle-button").click()
        body.wait_for(state="visible", timeout=5_000)
        browser.close()

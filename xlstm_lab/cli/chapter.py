"""``xlstm-lab chapter NAME -p key value | -f params.yaml``: re-run one chapter with new parameters.

The chapter's parameters cell (the code cell tagged ``parameters`` in ``notebooks/NAME.md``) defines the valid
names and, through its defaults, their types. Unknown names are refused (with the closest valid name), values are
read as YAML and coerced to the default's type where that is unambiguous (``1e12`` -> 1e12, ``"[1e11, 3e11]"`` ->
a list of floats), the chapter is executed with papermill into ``OUT/NAME.ipynb`` and rendered, without
re-executing it, as one HTML page with the glued numbers in its prose (a single-page Jupyter Book build with the
book's own configuration) at ``OUT/html/NAME.html``.

Exit codes: 0 done; 1 a chapter cell raised (the error and the cell are printed); 2 bad parameters, either refused
here or by the chapter's own checks (one line naming the parameter); 3 the page was rendered but still shows glue
placeholders.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import math
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from xlstm_lab.cli.common import PROG, CliError, StatusWarning

__all__ = ["ChapterFailed", "register", "read_parameters", "coerce", "parse_params", "find_notebooks", "render_html"]

_DEFAULT_OUT = "_build/chapters"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MISSING = object()


class ChapterFailed(Exception):
    """A cell of the chapter raised (other than the chapter's own parameter checks): exit code 1."""


def find_notebooks() -> Path:
    """The chapters' folder: ``notebooks/`` under the current directory if it exists, else the repository's."""
    here = Path("notebooks")
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "notebooks"


def read_parameters(path: Path) -> dict[str, object]:
    """Names and default values of the parameters cell of a jupytext MyST chapter.

    A default that is not a Python literal (an expression) is returned as ``_MISSING``: any value is passed on.

    Raises:
        CliError: the chapter has no code cell tagged ``parameters``.
    """
    import jupytext

    nb = jupytext.read(path)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise CliError(f"{path} has no code cell tagged parameters; it cannot be re-run with parameters")
    out: dict[str, object] = {}
    for node in ast.parse(cells[0].source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) and node.value is not None else []
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    out[target.id] = _MISSING
    return out


def _number(x: object) -> float | None:
    """``x`` as a float when it is a real number or a string that reads as one ("1e12"), else None."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x.strip())
        except ValueError:
            return None
    return None


def _like(value: object, default: object) -> object:
    """``value`` converted to the scalar type of ``default``; raises ValueError when that cannot be done."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ValueError("true or false")
    if isinstance(default, int):
        x = _number(value)
        if x is None or not math.isfinite(x) or not x.is_integer():
            if x is not None and math.isfinite(x):
                return x  # a fraction where the default is whole: passed on, the chapter's checks judge it
            raise ValueError("a whole number")
        return int(x)
    if isinstance(default, float):
        x = _number(value)
        if x is None:
            raise ValueError("a number")
        return x
    if isinstance(default, str) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def coerce(name: str, value: object, default: object) -> object:
    """A parameter value read from YAML, coerced to the type of the chapter's default where unambiguous.

    Numbers written ``1e12`` (a string to YAML 1.1) become floats; a list given as one string (``"[1e11, 3e11]"``
    or ``"1e11,3e11"``) or a single number becomes a list like the default; ``None`` is passed on as is.

    Raises:
        CliError: a value that cannot be read as the default's type, naming the parameter and the default.
    """
    import yaml

    if value is None or default is _MISSING or default is None:
        return value
    try:
        if isinstance(default, (list, tuple)):
            if isinstance(value, str):
                text = value.strip()
                parsed = yaml.safe_load(text) if text.startswith("[") else [t for t in text.split(",") if t.strip()]
                value = parsed
            if not isinstance(value, (list, tuple)):
                value = [value]
            kinds = {type(d) for d in default}
            if kinds and all(issubclass(k, (int, float)) and k is not bool for k in kinds):
                template = 0.0 if float in kinds else 0
                return [_like(v, template) for v in value]
            return list(value)
        return _like(value, default)
    except ValueError as exc:
        kind = "a list of numbers" if isinstance(default, (list, tuple)) else str(exc)
        raise CliError(f"parameter {name!r} must be {kind} like its default {default!r}; got {value!r}") from None
    except yaml.YAMLError:
        raise CliError(f"parameter {name!r}: cannot read {value!r} as a YAML list; write it like "
                       f"{default!r}") from None


def parse_params(pairs: list[list[str]], files: list[str], defaults: dict[str, object]) -> dict[str, object]:
    """Parameters from ``-f`` files (in order) then ``-p`` pairs (later wins), checked and coerced.

    Raises:
        CliError: an unreadable file, or a name that is not a parameter of the chapter (with the closest one).
    """
    import yaml

    raw: dict[str, object] = {}
    for path in files:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise CliError(f"cannot read parameters file {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise CliError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if loaded is None:
            continue
        if not isinstance(loaded, dict):
            raise CliError(f"{path} must be a YAML mapping of parameter names to values (name: value per line)")
        raw.update({str(k): v for k, v in loaded.items()})
    for key, text in pairs:
        try:
            raw[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            raw[key] = text
    for key in raw:
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CliError(f"unknown parameter {key!r}; {hint}valid parameters: {', '.join(defaults)}")
    return {key: coerce(key, value, defaults[key]) for key, value in raw.items()}


def _page_config(repo: Path, target: Path) -> None:
    """The book's ``_config.yml`` for a one-page build: no execution, and its relative paths made absolute."""
    import yaml

    source = repo / "_config.yml"
    cfg = yaml.safe_load(source.read_text()) if source.is_file() else {}
    cfg = cfg or {}
    cfg["execute"] = {**cfg.get("execute", {}), "execute_notebooks": "off"}
    cfg["only_build_toc_files"] = False
    cfg.pop("exclude_patterns", None)
    if cfg.get("bibtex_bibfiles"):
        files = cfg["bibtex_bibfiles"]
        cfg["bibtex_bibfiles"] = [str(repo / f) for f in ([files] if isinstance(files, str) else files)]
    if cfg.get("html", {}).get("favicon"):
        cfg["html"]["favicon"] = str(repo / cfg["html"]["favicon"])
    sphinx = cfg.get("sphinx", {})
    if sphinx.get("local_extensions"):
        sphinx["local_extensions"] = {k: str(repo / v) for k, v in sphinx["local_extensions"].items()}
    conf = sphinx.get("config", {})
    if conf.get("html_static_path"):
        conf["html_static_path"] = [str(repo / p) for p in conf["html_static_path"]]
    target.write_text(yaml.safe_dump(cfg, sort_keys=False))


def render_html(executed: Path, out_dir: Path, repo: Path) -> Path:
    """Render an executed chapter as one HTML page (glue resolved from its stored outputs; nothing re-executed).

    Returns:
        The page, ``out_dir/NAME.html`` (with its ``_static`` beside it).

    Raises:
        RuntimeError: the Jupyter Book build failed (its last output lines in the message).
    """
    import nbformat

    name = executed.stem
    with tempfile.TemporaryDirectory(prefix="xlstm-lab-page-") as tmp:
        src, build = Path(tmp, "src"), Path(tmp, "build")
        src.mkdir()
        nb = nbformat.read(executed, as_version=4)
        if any("{cite" in "".join(c.source) for c in nb.cells if c.cell_type == "markdown"):
            # The book's citations resolve against its bibliography page; a lone page lists its own references.
            nb.cells.append(nbformat.v4.new_markdown_cell("## References\n\n```{bibliography}\n:filter: cited\n```"))
        nbformat.write(nb, src / f"{name}.ipynb")
        if (repo / "book" / "exercises").is_dir():  # a chapter's `{include} ../book/exercises/NAME.md` resolves here
            shutil.copytree(repo / "book" / "exercises", Path(tmp, "book", "exercises"))
        _page_config(repo, src / "_config.yml")
        cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build",
               str(src / f"{name}.ipynb"), "--config", str(src / "_config.yml"), "--path-output", str(build)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        pages = list(build.glob(f"_build/_page/*/html/{name}.html"))
        if proc.returncode != 0 or not pages:
            tail = _ANSI.sub("", proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise RuntimeError("the HTML build of the executed chapter failed:\n" + "\n".join(tail))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(pages[0].parent, out_dir)
    return out_dir / f"{name}.html"


def unresolved_glue(page: Path) -> int:
    """How many ``{glue`` placeholders the rendered page still shows in its prose (0 when every number is in)."""
    text = re.sub(r"<script.*?</script>|<pre.*?</pre>", "", page.read_text(errors="replace"), flags=re.S)
    return len(re.findall(r"\{glue", text))


def _user_errors() -> tuple[type[Exception], ...]:
    from xlstm_lab.params import ParameterError

    return (ParameterError,)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``chapter`` to the ``xlstm-lab`` parser."""
    p = sub.add_parser("chapter", help="re-run one chapter with new parameters and render it as an HTML page",
                       description="Execute notebooks/NAME.md with papermill and render it as one HTML page.")
    p.add_argument("name", metavar="NAME", help="the chapter: a file notebooks/NAME.md (e.g. isoflop_optima)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   dest="pairs", help="a parameter; VALUE is read as YAML (1e12, [1e11, 3e11], true) (repeatable)")
    p.add_argument("-f", "--parameters-file", action="append", default=[], metavar="PARAMS.yaml", dest="files",
                   help="a YAML file of parameters (e.g. notebooks/params/NAME.large.yaml); -p wins over it")
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"output folder (default: {_DEFAULT_OUT}/NAME): DIR/NAME.ipynb and DIR/html/NAME.html")
    p.add_argument("--notebooks", default=None, metavar="DIR", help="folder of the chapters (default: ./notebooks, "
                   "else the repository's)")
    p.add_argument("--no-html", action="store_true", help="execute only; do not render the HTML page")
    p.add_argument("--json", action="store_true", help="print the paths and parameters as JSON")
    p.set_defaults(func=_run, user_errors=_user_errors)


def _run(args: argparse.Namespace) -> tuple[dict, str, int]:
    notebooks = Path(args.notebooks) if args.notebooks else find_notebooks()
    source = notebooks / f"{args.name}.md"
    if not source.is_file():
        names = sorted(p.stem for p in notebooks.glob("*.md"))
        close = difflib.get_close_matches(args.name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CliError(f"no chapter {source}; {hint}chapters: {', '.join(names) or '(none)'}")
    defaults = read_parameters(source)
    params = parse_params(args.pairs, args.files, defaults)
    out_dir = Path(args.out if args.out else Path(_DEFAULT_OUT, args.name))
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{args.name}.ipynb"
    try:
        _execute(source, executed, params, notebooks)
    except ChapterFailed as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return None, "", 1
    result = {"chapter": args.name, "parameters": params, "notebook": str(executed.resolve()), "html": None}
    lines = [f"Executed notebook: {result['notebook']}"]
    code = 0
    if not args.no_html:
        try:
            page = render_html(executed, out_dir / "html", notebooks.resolve().parent)
        except RuntimeError as exc:
            print(f"{PROG}: error: {exc}\n(the executed notebook is {executed})", file=sys.stderr)
            return None, "", 1
        result["html"] = str(page.resolve())
        lines.append(f"HTML page: {result['html']}")
        left = unresolved_glue(page)
        if left:
            import warnings

            warnings.warn(StatusWarning(f"{page} still shows {left} {{glue}} placeholders: a glued value is "
                                        "missing from the executed notebook"), stacklevel=1)
            code = 3
    return result, "\n".join(lines), code


def _execute(source: Path, executed: Path, params: dict, cwd: Path) -> None:
    """Execute the chapter with papermill; a raising cell becomes ParameterError (its own checks) or exit 1."""
    import jupytext
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from xlstm_lab.params import ParameterError

    with tempfile.TemporaryDirectory(prefix="xlstm-lab-chapter-") as tmp:
        nb_in = Path(tmp, f"{source.stem}.ipynb")
        jupytext.write(jupytext.read(source), nb_in)
        try:
            papermill.execute_notebook(str(nb_in), str(executed), parameters=params, cwd=str(cwd),
                                       progress_bar=sys.stderr.isatty())
        except PapermillExecutionError as exc:
            if exc.ename == "ParameterError":
                raise ParameterError(f"chapter {source.stem}: {exc.evalue}") from None
            print(_ANSI.sub("", "\n".join(exc.traceback)), file=sys.stderr)
            raise ChapterFailed(f"chapter {source.stem} failed in cell [{exc.exec_count}]: {exc.ename}: "
                                f"{exc.evalue} (the executed notebook, with the traceback: {executed})") from None

"""The ``xlstm-lab`` command line: a thin argparse layer over the API.

Each subcommand lives in its own module (``fit``; ``sweep``, ``runs`` and ``chapter`` when present) with a
``register(subparsers)`` function. A handler is stored as ``func`` in the parsed namespace and returns
``(json_payload, text, exit_code)``; it raises :class:`CliError` (or an error type it lists in ``user_errors``)
for bad input, which ``main`` prints as one line with exit code 2, never a traceback.

Exit codes: 0 success; 2 bad input, usage error or a fit that failed on purpose; 3 a result was produced but
its status is not ok (the output is still printed, with a warning on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from collections.abc import Sequence

from xlstm_lab.cli.common import PROG, CliError, StatusWarning, plain

__all__ = ["main", "build_parser", "CliError"]

# Subcommand modules, in the order `--help` lists them; a missing one is simply not offered.
_COMMANDS = ("fit", "sweep", "runs", "chapter", "bench")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``xlstm-lab`` (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Scaling-law lab: fit laws to runs, run sweeps, inspect run stores."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"xlstm_lab.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"xlstm_lab.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports usage errors itself (code 2) and --help (code 0)
        return int(exc.code or 0)
    user_errors = (CliError, *getattr(args, "user_errors", lambda: ())())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out, text, code = args.func(args)
        except user_errors as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 2
    if out is not None or text:
        print(json.dumps(plain(out), indent=2) if getattr(args, "json", False) else text)
    lines = (str(w.message) if issubclass(w.category, StatusWarning) else f"{w.category.__name__}: {w.message}"
             for w in caught)
    for message in dict.fromkeys(lines):  # each once, in order
        print(f"{PROG}: warning: {message}", file=sys.stderr)
    return code


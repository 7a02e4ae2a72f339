"""Progress bars (tqdm, on stderr) for long fits; silent unless asked for."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

__all__ = ["stage"]


class _Silent:
    def __call__(self, it: int, running: int) -> None:
        """batched_lbfgs callback: iteration ``it``, ``running`` starts not yet stopped."""

    def done(self) -> None:
        """Mark the stage finished."""


class _Bar(_Silent):
    def __init__(self, desc: str, total: int):
        from tqdm import tqdm  # a core dependency, imported only when a bar is shown; text bars

        self.bar = tqdm(total=total, desc=desc, unit="it", file=sys.stderr, leave=False, dynamic_ncols=True)

    def __call__(self, it: int, running: int) -> None:
        self.bar.update(it + 1 - self.bar.n)
        self.bar.set_postfix(running=running, refresh=False)

    def done(self) -> None:
        self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()


@contextlib.contextmanager
def stage(enabled: bool, desc: str, total: int) -> Iterator[_Silent]:
    """A progress bar for one stage of ``total`` iterations (a no-op object when not enabled).

    The yielded object is a ``batched_lbfgs`` callback; the bar fills up when the stage ends, since iterative
    stages usually stop before their iteration cap.
    """
    bar = _Bar(desc, total) if enabled else _Silent()
    try:
        yield bar
    finally:
        bar.done()

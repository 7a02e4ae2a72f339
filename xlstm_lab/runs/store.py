"""The run store: one SQLite file (WAL mode) of training runs keyed by ``RunSpec.key()``.

A row's life: ``register`` inserts it as "pending"; ``claim`` marks it "running" and names its owner
(``host:pid``); ``finish`` writes the outcome -- status, loss, curve, sizes, times -- in **one** transaction, so no
row is ever "done" without its loss (a CHECK constraint enforces it too); ``release`` puts an interrupted run back
to "pending". A "running" row whose owner is gone (a process killed with ``kill -9``: dead pid on this host, or
no heartbeat for ``stale_after_s`` from another host) is claimable again. Finished rows ("done", "diverged") are
never overwritten. The file is marked as a run store (``PRAGMA application_id``, ``user_version`` and a ``meta``
table), so a foreign file is refused instead of being written into.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from xlstm_lab.runs.errors import (
    NotARunStoreError,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
    StoreVersionError,
)
from xlstm_lab.runs.records import (
    RunRecord,
    downsample_curve,
    plan_from_json,
    plan_to_json,
    spec_from_json,
    spec_to_json,
)
from xlstm_lab.train.spec import RUN_STATUSES, RunPlan, RunResult, RunSpec

__all__ = ["RunStore", "DEFAULT_STORE", "APPLICATION_ID", "SCHEMA_VERSION", "FINISHED", "checkpoint_root"]

DEFAULT_STORE = "runs/lab.sqlite"
APPLICATION_ID = 0x784C5342  # "xLSB": xlstm-lab store, in the SQLite header (PRAGMA application_id)
SCHEMA_VERSION = 1  # PRAGMA user_version
FINISHED = ("done", "diverged")
"""Statuses a sweep skips: the run has its result (a diverged run is a result, kept with its history)."""

_STATUS_LIST = ", ".join(f"'{s}'" for s in RUN_STATUSES)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ({_STATUS_LIST})),
    family TEXT NOT NULL, d_model INTEGER NOT NULL, n_layers INTEGER NOT NULL, n_heads INTEGER NOT NULL,
    d_ff INTEGER NOT NULL, context_length INTEGER NOT NULL, budget_flops REAL NOT NULL, lr REAL NOT NULL,
    batch_size INTEGER NOT NULL, seed INTEGER NOT NULL, corpus TEXT NOT NULL, corpus_sha256 TEXT NOT NULL,
    device_kind TEXT NOT NULL,
    n_params INTEGER, tokens INTEGER, flops REAL, flops_per_step REAL, steps INTEGER, epochs REAL,
    val_loss REAL, curve TEXT, steps_done INTEGER NOT NULL DEFAULT 0, wall_s REAL, tokens_per_s REAL,
    model_flops_per_s REAL, device TEXT, versions TEXT, error TEXT,
    spec TEXT NOT NULL, plan TEXT, sweep TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, heartbeat_at REAL,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL,
    CHECK (status <> 'done' OR (val_loss IS NOT NULL AND curve IS NOT NULL AND plan IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
"""


def checkpoint_root(store_path: str | os.PathLike) -> Path:
    """Where a store's runs keep their checkpoints: ``runs/lab.sqlite`` -> ``runs/lab.ckpt/`` (one folder per key)."""
    path = Path(store_path)
    return path.with_name(path.stem + ".ckpt")


def _host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    """Whether a process of this id runs on this host (a zombie -- killed, not yet reaped -- counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class RunStore:
    """A run database in one SQLite file.

    Args:
        path: the store file (default ``runs/lab.sqlite``; its folder is created when ``create``).
        create: create the store when the file does not exist (False: ``StoreNotFoundError``).
        lock_timeout_s: how long a write waits for another process's write lock before ``StoreLockedError``.
        stale_after_s: a "running" row claimed from another host is taken over after this long without heartbeat.

    Raises:
        NotARunStoreError: the file is not SQLite, or a SQLite database that is not a run store.
        StoreVersionError: the store has a newer schema than this version knows.
        StoreLockedError: another process holds the write lock for longer than ``lock_timeout_s``.
        StoreNotFoundError: the file does not exist and ``create`` is False.
        StoreError: the path is a folder, or the file cannot be opened or written.
    """

    def __init__(self, path: str | os.PathLike = DEFAULT_STORE, *, create: bool = True,
                 lock_timeout_s: float = 30.0, stale_after_s: float = 900.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = float(lock_timeout_s)
        self.stale_after_s = float(stale_after_s)
        self.owner = f"{_host()}:{os.getpid()}"
        if self.path.is_dir():
            raise StoreError(f"the run store path {self.path} is a folder; pass a file, e.g. --store "
                             f"{self.path / 'lab.sqlite'}")
        exists = self.path.exists() and self.path.stat().st_size > 0
        if not exists and not create:
            raise StoreNotFoundError(f"no run store at {self.path}; check the path, or create one with "
                                     f"`xlstm-lab sweep isoflop --store {self.path} ...`")
        try:
            if not exists:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=self.lock_timeout_s, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            why = f"cannot open the run store {self.path}: {exc}; check the path and its permissions"
            raise StoreError(why) from None
        try:
            self._open_retrying(exists)
        except BaseException:
            self._conn.close()
            raise

    def _open_retrying(self, exists: bool) -> None:
        """``_open``, retried while another process holds a lock it needs, up to ``lock_timeout_s``.

        SQLite answers some lock conflicts at once instead of through the busy handler -- switching a fresh file
        to WAL while another process is initialising it is one -- so a second writer starting beside the first
        would fail although the lock is released a moment later.
        """
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.01
        while True:
            try:
                self._open(exists)
                return
            except StoreLockedError:
                if time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            exists = self.path.exists() and self.path.stat().st_size > 0

    # -- opening ---------------------------------------------------------------------------------------------
    def _not_a_store(self, why: str) -> NotARunStoreError:
        return NotARunStoreError(f"{self.path} is not an xlstm-lab run store ({why}); pass a new file or an "
                                 f"existing store with --store (default {DEFAULT_STORE})")

    def _open(self, exists: bool) -> None:
        try:
            app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
            tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                raise self._locked_error() from None
            if "unable to open" in str(exc):
                raise StoreError(f"cannot open the run store {self.path}: {exc}; check that its folder exists and "
                                 "is writable") from None
            raise self._not_a_store(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise self._not_a_store(f"{exc}: not a SQLite database") from None
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
            raise self._not_a_store(f"a SQLite database with application_id {app_id} and {tables} schema "
                                    f"object(s), not {APPLICATION_ID}")
        self._conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout_s * 1000)}")
        if app_id == 0:
            self._initialise()
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreVersionError(f"the run store {self.path} has schema version {version}, newer than this "
                                    f"xlstm-lab knows ({SCHEMA_VERSION}); upgrade xlstm-lab")
        try:
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                raise self._locked_error() from None
            raise StoreError(f"cannot use the run store {self.path}: {exc}") from None
        if mode.lower() != "wal":
            raise StoreError(f"the run store {self.path} cannot use WAL mode (journal mode {mode!r}); put it on a "
                             "local file system (not a network share)")
        self._conn.execute("PRAGMA synchronous = FULL")

    def _initialise(self) -> None:
        with self._write() as cur:
            app_id = cur.execute("PRAGMA application_id").fetchone()[0]
            if app_id == APPLICATION_ID:  # another process initialised it while we waited for the lock
                return
            cur.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)
            from xlstm_lab.train.spec import TRAIN_CODE_VERSION

            meta = {"kind": "xlstm-lab run store", "schema_version": str(SCHEMA_VERSION),
                    "created_at": f"{time.time():.3f}", "created_by": self.owner,
                    "train_code_version": TRAIN_CODE_VERSION}
            cur.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())

    def _locked_error(self) -> StoreLockedError:
        return StoreLockedError(
            f"the run store {self.path} is locked: another process held its write lock for more than "
            f"{self.lock_timeout_s:g} s; wait for it to finish (or stop it), or raise --lock-timeout")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT; ROLLBACK on any error)."""
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                raise self._locked_error() from None
            raise StoreError(f"cannot write the run store {self.path}: {exc}; check its permissions") from None
        try:
            yield cur
            cur.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _read(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        try:
            cur = self._conn.execute(sql, tuple(params))
            cur.row_factory = sqlite3.Row
            return cur.fetchall()
        except sqlite3.OperationalError as exc:
            if _locked(exc):
                raise self._locked_error() from None
            raise StoreError(f"cannot read the run store {self.path}: {exc}") from None

    def close(self) -> None:
        """Close the connection (the store stays consistent whether or not this is called)."""
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    # -- writing ---------------------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Take and release the write lock once: a locked or read-only store fails now, not after planning."""
        with self._write():
            pass

    def register(self, spec: RunSpec, plan: RunPlan | None = None, *, sweep: str | None = None) -> bool:
        """Insert a run as "pending" unless its key is already stored; returns whether it was inserted."""
        m = spec.model
        row = {
            "key": spec.key(), "status": "pending", "family": m.family, "d_model": m.d_model,
            "n_layers": m.n_layers, "n_heads": m.n_heads, "d_ff": m.d_ff, "context_length": m.context_length,
            "budget_flops": spec.budget_flops, "lr": spec.lr, "batch_size": spec.batch_size, "seed": spec.seed,
            "corpus": spec.corpus, "corpus_sha256": spec.corpus_sha256, "device_kind": spec.device.split(":")[0],
            "spec": spec_to_json(spec), "sweep": sweep, "created_at": time.time(), **self._plan_columns(plan),
        }
        names = ", ".join(row)
        with self._write() as cur:
            cur.execute(f"INSERT OR IGNORE INTO runs ({names}) VALUES ({', '.join('?' * len(row))})",
                        tuple(row.values()))
            return cur.rowcount == 1

    @staticmethod
    def _plan_columns(plan: RunPlan | None) -> dict[str, object]:
        if plan is None:
            return {}
        return {"n_params": plan.n_params, "tokens": plan.tokens, "flops": plan.flops,
                "flops_per_step": plan.flops_per_step, "steps": plan.steps, "epochs": plan.epochs,
                "plan": plan_to_json(plan)}

    def _stale(self, owner: str | None, heartbeat_at: float | None, now: float) -> bool:
        """Whether a "running" row's owner is gone (see the module docstring)."""
        host, _, pid = (owner or "").rpartition(":")
        if host == _host() and pid.isdigit():
            return int(pid) == os.getpid() or not _pid_alive(int(pid))
        return heartbeat_at is None or now - heartbeat_at > self.stale_after_s

    def claim(self, key: str) -> str:
        """Mark a registered run "running" for this process.

        Returns:
            "claimed"; "finished" (done or diverged: nothing to do); "busy" (another live process runs it).

        Raises:
            StoreError: the key is not registered.
        """
        now = time.time()
        with self._write() as cur:
            row = cur.execute("SELECT status, owner, heartbeat_at FROM runs WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise StoreError(f"run {key} is not in the store {self.path}; register it first")
            status, owner, heartbeat = row
            if status in FINISHED:
                return "finished"
            if status == "running" and not self._stale(owner, heartbeat, now):
                return "busy"
            cur.execute("UPDATE runs SET status = 'running', owner = ?, heartbeat_at = ?, started_at = ?, "
                        "attempts = attempts + 1, error = NULL WHERE key = ?", (self.owner, now, now, key))
            return "claimed"

    def heartbeat(self, keys: Iterable[str]) -> None:
        """Tell other processes that this process still runs ``keys``."""
        keys = list(keys)
        if keys:
            with self._write() as cur:
                cur.executemany("UPDATE runs SET heartbeat_at = ? WHERE key = ? AND owner = ? AND status = 'running'",
                                [(time.time(), k, self.owner) for k in keys])

    def release(self, keys: Iterable[str]) -> None:
        """Put runs this process claimed but did not finish back to "pending" (an interrupted sweep)."""
        with self._write() as cur:
            cur.executemany("UPDATE runs SET status = 'pending', owner = NULL WHERE key = ? AND owner = ? "
                            "AND status = 'running'", [(k, self.owner) for k in keys])

    def finish(self, result: RunResult) -> str:
        """Store a run's outcome in one transaction; returns the status stored.

        A result marked "done" without a finite loss is stored as "failed" with an error saying so. A row that
        is already finished is left as it is (the first result stays; an equal key means an equal run).
        """
        status, error, loss = result.status, result.error, result.val_loss
        if status not in RUN_STATUSES or status in ("pending", "running"):
            status, error = "failed", f"the trainer returned status {result.status!r}; {error or ''}".strip()
        if status == "done" and (loss is None or not math.isfinite(loss)):
            status, error = "failed", f"the trainer returned status 'done' without a finite loss ({loss!r})"
        if loss is not None and not math.isfinite(loss):
            loss = None
        plan = self._plan_columns(result.plan)
        row = {**plan, "status": status, "val_loss": loss,
               "curve": json.dumps(downsample_curve(result.curve)), "steps_done": int(result.steps_done),
               "wall_s": result.wall_s, "tokens_per_s": result.tokens_per_s,
               "model_flops_per_s": result.model_flops_per_s, "device": result.device,
               "versions": json.dumps(result.versions, sort_keys=True), "error": error,
               "finished_at": time.time(), "owner": self.owner}
        sets = ", ".join(f"{k} = ?" for k in row)
        key = result.spec.key()
        with self._write() as cur:
            existing = cur.execute("SELECT status FROM runs WHERE key = ?", (key,)).fetchone()
            if existing is None:
                raise StoreError(f"run {key} is not in the store {self.path}; register it before finishing it")
            if existing[0] in FINISHED:
                return existing[0]
            cur.execute(f"UPDATE runs SET {sets} WHERE key = ?", (*row.values(), key))
        return status

    # -- reading ---------------------------------------------------------------------------------------------
    def get(self, key: str) -> RunRecord | None:
        """The stored run of this key, or None."""
        rows = self._read("SELECT * FROM runs WHERE key = ?", (key,))
        return self._record(rows[0]) if rows else None

    def records(self, status: str | Iterable[str] | None = None) -> list[RunRecord]:
        """Stored runs, oldest first, optionally only those of one status or several."""
        statuses = [status] if isinstance(status, str) else (None if status is None else list(status))
        for s in statuses or ():
            if s not in RUN_STATUSES:
                raise StoreError(f"unknown run status {s!r}; use one of {', '.join(RUN_STATUSES)}")
        where = "" if statuses is None else f"WHERE status IN ({', '.join('?' * len(statuses))})"
        rows = self._read(f"SELECT * FROM runs {where} ORDER BY created_at, key", statuses or ())
        return [self._record(r) for r in rows]

    def statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """The status of each stored key among ``keys`` (keys not stored are absent)."""
        out: dict[str, str] = {}
        keys = list(keys)
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            rows = self._read(f"SELECT key, status FROM runs WHERE key IN ({', '.join('?' * len(part))})", part)
            out.update({r["key"]: r["status"] for r in rows})
        return out

    def counts(self) -> dict[str, int]:
        """Number of runs per status (every status present, zero included)."""
        rows = self._read("SELECT status, count(*) AS n FROM runs GROUP BY status")
        return {s: 0 for s in RUN_STATUSES} | {r["status"]: r["n"] for r in rows}

    def meta(self) -> dict[str, str]:
        """The store's ``meta`` table (kind, schema version, creation time and process)."""
        return {r["name"]: r["value"] for r in self._read("SELECT name, value FROM meta")}

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: "ok" for an undamaged file."""
        return "; ".join(r[0] for r in self._read("PRAGMA integrity_check"))

    @staticmethod
    def _record(r: sqlite3.Row) -> RunRecord:
        curve = tuple((int(s), v) for s, v in json.loads(r["curve"])) if r["curve"] else ()
        return RunRecord(
            key=r["key"], status=r["status"], spec=spec_from_json(r["spec"]), plan=plan_from_json(r["plan"]),
            val_loss=r["val_loss"], curve=curve, steps_done=r["steps_done"], wall_s=r["wall_s"],
            tokens_per_s=r["tokens_per_s"], model_flops_per_s=r["model_flops_per_s"], device=r["device"],
            versions=json.loads(r["versions"]) if r["versions"] else {}, error=r["error"], sweep=r["sweep"],
            attempts=r["attempts"], owner=r["owner"], created_at=r["created_at"], started_at=r["started_at"],
            finished_at=r["finished_at"], heartbeat_at=r["heartbeat_at"],
        )

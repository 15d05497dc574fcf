"""Supervised child processes: an extraction (or an upload's inspection) that crashes, hangs or blows
up its memory in a native library (PDFium, OpenCV, onnxruntime, torch) kills a child, never the
worker or the API server.

- A child is a fresh interpreter (`python -c … service.sandbox.child_main()`), connected to its
  parent by a socket pair (multiprocessing.connection framing). It is started by one long-lived
  launcher thread of the parent and asks the kernel for SIGKILL when that thread's process dies
  (PR_SET_PDEATHSIG), so a SIGKILLed worker leaves no extraction running behind it.
- It is reused across calls (the OCR engine and a layout model load once) and replaced after a
  crash, a kill, `max_jobs` calls, or when after a call it holds more than 3/4 of its memory limit.
- The parent watches every call: wall time (`time_limit` → `time_limit_exceeded`), the child's
  resident memory (read from /proc every 25 ms; over `memory_limit` → SIGKILL →
  `memory_limit_exceeded`), the child's death (a signal → `worker_crashed`) and `should_abort` (the
  job's lease was lost: the child is stopped, nothing is written). RLIMIT_DATA at 1.5 × the memory
  limit makes one huge allocation fail at once (MemoryError → `memory_limit_exceeded`) before the
  watchdog could see it grow.
- Progress (`("page", n)`) and page checkpoints (`("checkpoint", n, lines)`) travel back while a call runs.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger("gongkai.sandbox")

POLL_S = 0.025
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
RECYCLE_SHARE = 0.75  # a child holding more than this share of its limit after a call is replaced
DATA_LIMIT_FACTOR = 1.5
_BOOT = (
    "import json, os, sys; sys.path[:0] = json.loads(os.environ.pop('GONGKAI_SANDBOX_PATH')); "
    "from service.sandbox import child_main; child_main()"
)


# --------------------------------------------------------------------------------------------
# /proc


def statm(pid: int) -> tuple[int, int] | None:
    """(resident bytes, data+stack bytes) of a live process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            fields = fh.read().split()
        return int(fields[1]) * PAGE_SIZE, int(fields[5]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (default: this one); 0 when unknown."""
    got = statm(pid or os.getpid())
    return got[0] if got else 0


def peak_rss_bytes(pid: int | None = None) -> int:
    """The high-water mark of resident memory (VmHWM) since start or the last `reset_peak`."""
    try:
        with open(f"/proc/{pid or os.getpid()}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def reset_peak(pid: int) -> None:
    # needs Linux ≥ 4.0; a parent may write its own child's clear_refs
    with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (children of all its threads, recursively)."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as fh:
                    kids = [int(x) for x in fh.read().split()]
            except (OSError, ValueError):
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (a worker and its extraction children)."""
    return sum(rss_bytes(p) for p in [pid, *descendants(pid)])


# --------------------------------------------------------------------------------------------
# Parent side


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    code: str | None = None
    message: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    aborted: bool = False  # should_abort() said stop: nothing to report
    peak_rss: int = 0
    seconds: float = 0.0
    child_pid: int | None = None

    def error(self):
        """The outcome as a typed exception (service.errors / extraction.errors)."""
        from extraction.errors import GongkaiError

        exc = GongkaiError(self.message, detail=self.detail)
        exc.code = self.code or "internal_error"
        return exc


class _Launcher:
    """One long-lived thread per process that starts the children: PR_SET_PDEATHSIG fires when the
    *thread* that forked a child ends, so children must not be forked by short-lived threads (the
    API's thread pool retires idle threads)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.requests: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, daemon=True, name="gongkai-sandbox-launcher").start()

    def _run(self) -> None:
        while True:
            fn, box, done = self.requests.get()
            try:
                box.append((True, fn()))
            except BaseException as exc:
                box.append((False, exc))
            finally:
                done.set()

    def call(self, fn: Callable[[], Any]) -> Any:
        box: list = []
        done = threading.Event()
        self.requests.put((fn, box, done))
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value


_launcher: _Launcher | None = None
_launcher_lock = threading.Lock()


def _launch(fn: Callable[[], Any]) -> Any:
    global _launcher
    with _launcher_lock:
        if _launcher is None or _launcher.pid != os.getpid():  # a forked process needs its own thread
            _launcher = _Launcher()
        launcher = _launcher
    return launcher.call(fn)


class Sandbox:
    """One supervised child process; `call` runs one operation of `service.extract_task` in it."""

    def __init__(
        self,
        name: str,
        memory_limit: int,
        max_jobs: int = 500,
        warm: tuple[str, ...] = (),
        start_timeout: float = 120.0,
        nice: int = 0,
    ) -> None:
        self.name = name
        self.nice = nice
        self.memory_limit = memory_limit
        self.max_jobs = max_jobs
        self.warm = warm
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.jobs = 0  # calls served by the current child
        self.starts = 0
        self.crashes = 0
        self.closing = False  # the process is shutting down: a call cut short is not the document's fault
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_started(self) -> None:
        with self._lock:
            if self.alive() and self.jobs < self.max_jobs:
                return
            self._stop_locked()
            self._start_locked()

    def _start_locked(self) -> None:
        parent_sock, child_sock = socket.socketpair()
        fd = child_sock.fileno()
        env = {
            **os.environ,
            "GONGKAI_SANDBOX_PATH": json.dumps([p for p in sys.path if isinstance(p, str)]),
            "GONGKAI_SANDBOX_FD": str(fd),
            "GONGKAI_SANDBOX_PARENT": str(os.getpid()),
            "GONGKAI_SANDBOX_NAME": self.name,
            "GONGKAI_SANDBOX_DATA_LIMIT": str(int(self.memory_limit * DATA_LIMIT_FACTOR)),
            "GONGKAI_SANDBOX_WARM": ",".join(self.warm),
            "GONGKAI_SANDBOX_NICE": str(self.nice),
        }
        try:
            stdout: Any = os.dup(2)  # the child's prints go to the worker's log (stderr)
        except OSError:
            stdout = subprocess.DEVNULL

        def popen() -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, "-c", _BOOT],
                env=env,
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                close_fds=True,
            )

        try:
            proc = _launch(popen)
        finally:
            child_sock.close()
            if isinstance(stdout, int) and stdout >= 0:
                os.close(stdout)
        conn = Connection(parent_sock.detach())
        ready = False
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if conn.poll(0.1):
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    break
                ready = msg[0] == "ready"
                break
        if not ready:
            proc.kill()
            proc.wait()
            conn.close()
            from service.errors import WorkerCrashed

            raise WorkerCrashed(f"the {self.name} process did not start (exit status {proc.returncode})")
        self.proc, self.conn, self.jobs = proc, conn, 0
        self.starts += 1
        log.info("%s process %s started", self.name, proc.pid)

    def _stop_locked(self, graceful: bool = True) -> None:
        proc, conn = self.proc, self.conn
        self.proc = self.conn = None
        if proc is None:
            return
        if graceful and proc.poll() is None and conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop", None))
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if conn is not None:
            conn.close()

    def kill(self) -> None:
        with self._lock:
            self._stop_locked(graceful=False)

    def close(self) -> None:
        with self._lock:
            self._stop_locked(graceful=True)

    def call(
        self,
        op: str,
        request: dict[str, Any],
        *,
        time_limit: float,
        on_message: Callable[[tuple], None] | None = None,
        should_abort: Callable[[], bool] | None = None,
    ) -> Outcome:
        from service.errors import WorkerCrashed

        try:
            self.ensure_started()
        except WorkerCrashed as exc:
            return Outcome(ok=False, code=exc.code, message=exc.message)
        proc, conn = self.proc, self.conn
        assert proc is not None and conn is not None
        reset_peak(proc.pid)
        start = time.monotonic()
        deadline = start + time_limit
        peak, last_data = 0, 0
        outcome: Outcome | None = None
        try:
            conn.send((op, request))
        except (OSError, ValueError):
            outcome = self._death(proc, conn, last_data)
        while outcome is None:
            try:
                outcome = self._receive(conn, on_message)
            except (EOFError, OSError):
                outcome = self._death(proc, conn, last_data)
                break
            if outcome is not None:
                break
            if proc.poll() is not None:
                outcome = self._death(proc, conn, last_data)
                break
            rss, data = statm(proc.pid) or (0, 0)  # no /proc (not Linux): RLIMIT_DATA alone bounds memory
            last_data = data or last_data
            peak = max(peak, rss)
            outcome = self._over_limit(rss, deadline, time_limit, should_abort)
        return self._finish(outcome, proc, start, peak)

    def _receive(self, conn: Connection, on_message: Callable[[tuple], None] | None) -> Outcome | None:
        """The call's reply if one came within POLL_S; a progress message goes to `on_message`."""
        if not conn.poll(POLL_S):
            return None
        msg = conn.recv()
        if msg[0] == "done":
            return Outcome(ok=True, value=msg[1])
        if msg[0] == "error":
            return Outcome(ok=False, code=msg[1], message=msg[2], detail=msg[3] or {})
        if on_message is not None:
            try:
                on_message(msg)
            except Exception:  # progress is best effort
                log.exception("%s: progress callback failed", self.name)
        return None

    def _over_limit(
        self, rss: int, deadline: float, time_limit: float, should_abort: Callable[[], bool] | None
    ) -> Outcome | None:
        """The child stopped, and why, when it is over its memory or time limit or the call is to stop."""
        if rss > self.memory_limit:
            self.kill()
            return Outcome(
                ok=False,
                code="memory_limit_exceeded",
                message=f"the {self.name} process went over its memory limit of "
                f"{self.memory_limit / 2**20:.0f} MiB ({rss / 2**20:.0f} MiB resident); it was stopped",
                detail={"limit_bytes": self.memory_limit, "rss_bytes": rss},
            )
        if time.monotonic() > deadline:
            self.kill()
            return Outcome(
                ok=False,
                code="time_limit_exceeded",
                message=f"the {self.name} took longer than its limit of {time_limit:g} s; it was stopped",
                detail={"limit_s": time_limit},
            )
        if should_abort is not None and should_abort():
            self.kill()
            return Outcome(ok=False, aborted=True, code="aborted", message="stopped: the job was taken over")
        return None

    def _finish(self, outcome: Outcome, proc: subprocess.Popen, start: float, peak: int) -> Outcome:
        """The outcome with its time and peak memory; a child holding much memory afterwards is replaced."""
        if self.closing and not outcome.ok and outcome.code in ("worker_crashed", "memory_limit_exceeded"):
            outcome = Outcome(ok=False, aborted=True, code="aborted", message="stopped: the worker is shutting down")
        outcome.seconds = time.monotonic() - start
        outcome.child_pid = proc.pid
        if self.proc is proc and self.alive():
            peak = max(peak, peak_rss_bytes(proc.pid))
            self.jobs += 1
            if rss_bytes(proc.pid) > RECYCLE_SHARE * self.memory_limit:
                log.info("%s process %s holds much memory after a call: replaced", self.name, proc.pid)
                self.close()
        outcome.peak_rss = peak
        return outcome

    def _death(self, proc: subprocess.Popen, conn: Connection, last_data: int) -> Outcome:
        """The child died during a call: a reply it sent first still counts; else classify the death."""
        with contextlib.suppress(EOFError, OSError, ValueError):
            while conn.poll(0):
                msg = conn.recv()
                if msg[0] == "done":
                    self.kill()
                    return Outcome(ok=True, value=msg[1])
                if msg[0] == "error":
                    self.kill()
                    return Outcome(ok=False, code=msg[1], message=msg[2], detail=msg[3] or {})
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        rc = proc.returncode
        self.kill()
        self.crashes += 1
        if last_data >= 0.9 * self.memory_limit * DATA_LIMIT_FACTOR:
            return Outcome(
                ok=False,
                code="memory_limit_exceeded",
                message=f"the {self.name} process died at its memory limit ({last_data / 2**20:.0f} MiB allocated)",
                detail={"limit_bytes": self.memory_limit},
            )
        if rc is not None and rc < 0:
            try:
                how = signal.Signals(-rc).name
            except ValueError:
                how = f"signal {-rc}"
        else:
            how = f"exit status {rc}"
        log.warning("%s process %s died during a call (%s)", self.name, proc.pid, how)
        return Outcome(
            ok=False,
            code="worker_crashed",
            message=f"the {self.name} process died while working on this document ({how})",
            detail={"returncode": rc},
        )


class PoolClosed(RuntimeError):
    """The process is shutting down: no more calls."""


class SandboxPool:
    """Sandboxes leased one per caller: as many as callers at once (`max_size`: at most that many,
    a caller waits for a free one)."""

    def __init__(self, factory: Callable[[], Sandbox], max_size: int | None = None) -> None:
        self.factory = factory
        self.max_size = max_size
        self._all: list[Sandbox] = []
        self._free: list[Sandbox] = []
        self._cond = threading.Condition()
        self.closed = False
        _POOLS.add(self)

    @contextlib.contextmanager
    def lease(self, timeout: float | None = None) -> Iterator[Sandbox]:
        box = self._acquire(timeout)
        try:
            yield box
        finally:
            with self._cond:
                if self.closed:
                    box.close()
                else:
                    self._free.append(box)
                    self._cond.notify()

    def _acquire(self, timeout: float | None) -> Sandbox:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self.closed:
                    raise PoolClosed("the sandbox pool is closed (shutting down)")
                if self._free:
                    return self._free.pop()
                if self.max_size is None or len(self._all) < self.max_size:
                    box = self.factory()
                    self._all.append(box)
                    return box
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no free sandbox")
                self._cond.wait(remaining)

    def prestart(self, n: int = 1) -> None:
        """Start `n` children in the background (the first job does not wait for the imports)."""
        with self._cond:
            while len(self._all) < n and (self.max_size is None or len(self._all) < self.max_size):
                box = self.factory()
                self._all.append(box)
                self._free.append(box)
            boxes = list(self._free)

        def start_all() -> None:
            for box in boxes:
                try:
                    box.ensure_started()
                except Exception:
                    log.exception("could not pre-start a %s process", box.name)

        threading.Thread(target=start_all, daemon=True, name="gongkai-sandbox-prestart").start()

    def recycle(self) -> None:
        """Stop every idle child; each starts afresh at its next call (models and caches reloaded)."""
        with self._cond:
            idle = list(self._free)
        for box in idle:
            box.close()

    def pids(self) -> list[int]:
        with self._cond:
            return [b.pid for b in self._all if b.pid is not None]

    def stats(self) -> dict[str, Any]:
        with self._cond:
            boxes = list(self._all)
        return {
            "processes": [{"pid": b.pid, "calls": b.jobs, "starts": b.starts, "crashes": b.crashes} for b in boxes],
            "rss_bytes": sum(rss_bytes(b.pid) for b in boxes if b.pid),
        }

    def close(self) -> None:
        """Stop every child. A call still running is cut short and reported `aborted` (its job is left
        to its lease: the sweeper runs it again), never failed for the document."""
        with self._cond:
            self.closed = True
            boxes, self._all, self._free = list(self._all), [], []
            self._cond.notify_all()
        for box in boxes:
            box.closing = True
        for box in boxes:
            box.close()


_POOLS: weakref.WeakSet[SandboxPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS):
        with contextlib.suppress(Exception):
            pool.close()


# --------------------------------------------------------------------------------------------
# Child side


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (Linux), and a watch on the parent's pid elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the prctl
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def child_main() -> None:
    import importlib
    import resource

    fd = int(os.environ.pop("GONGKAI_SANDBOX_FD"))
    parent = int(os.environ.pop("GONGKAI_SANDBOX_PARENT"))
    name = os.environ.pop("GONGKAI_SANDBOX_NAME", "sandbox")
    data_limit = int(os.environ.pop("GONGKAI_SANDBOX_DATA_LIMIT", "0") or 0)
    warm = [m for m in os.environ.pop("GONGKAI_SANDBOX_WARM", "").split(",") if m]
    nice = int(os.environ.pop("GONGKAI_SANDBOX_NICE", "0") or 0)
    conn = Connection(fd)
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    if nice > 0:  # batch work yields the CPU to the API and the worker's own threads
        with contextlib.suppress(OSError):
            os.nice(nice)
    if data_limit:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format=f"%(asctime)s %(levelname)s {name}[%(process)d] %(name)s: %(message)s"
    )
    from extraction.errors import GongkaiError
    from extraction.memory import trim_heap
    from service.child_ops import OPERATIONS

    for module in warm:
        importlib.import_module(module)
    send_lock = threading.Lock()

    def send(msg: tuple) -> None:
        with send_lock:
            conn.send(msg)

    send(("ready", os.getpid()))
    while True:
        try:
            op, request = conn.recv()
        except (EOFError, OSError):
            return
        if op == "stop":
            return
        reply: tuple
        try:
            fn = OPERATIONS[op]
            value = (
                fn(request, on_page=lambda n: send(("page", n)), on_checkpoint=lambda n, d: send(("checkpoint", n, d)))
                if op == "extract"
                else fn(request)
            )
            reply = ("done", value)
            del value
        except GongkaiError as exc:
            reply = ("error", exc.code, exc.message, exc.detail)
        except MemoryError:
            reply = ("error", "memory_limit_exceeded", f"the {name} process ran out of memory (its limit)", {})
        except RecursionError as exc:
            reply = ("error", "corrupt_input", f"the input nests too deeply to be read: {exc}", {})
        except Exception as exc:  # a defect: say what it was, stay alive for the next call
            logging.getLogger("gongkai.sandbox").exception("%s failed", op)
            reply = ("error", "internal_error", f"{type(exc).__name__}: {exc}", {})
        try:
            send(reply)
        except (OSError, ValueError):
            return
        except MemoryError:
            send(("error", "memory_limit_exceeded", "the result was too large to return", {}))
        del reply
        trim_heap()  # what the call freed goes back to the OS, not kept towards the memory limit

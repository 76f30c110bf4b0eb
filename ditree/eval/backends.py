"""Where runs execute: a local pool of processes (default) or a Ray cluster (optional extra).

Local: every run gets its own fresh process, forked from a ``forkserver`` that has imported the
planners once (OMPL and PyBullet keep global state, and OMPL never releases the GIL, so runs must
not share a process). At most ``workers`` run at once. A worker that dies (segfault) or overruns
its watchdog (``watchdog_s(time_limit)``) is killed and recorded as a failed run with status
"crash", and the evaluation goes on.

Ray: each run is a task with ``num_cpus=1`` and ``max_calls=1`` (a fresh worker process per run);
the driver writes every file, so workers need no shared disk, only ``ditree`` installed.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing.connection import wait
from typing import Any

from ditree.eval.spec import RunSpec
from ditree.eval.worker import execute_run, failure_record

Done = Callable[[dict[str, Any], "str | None"], None]
"""Called in the parent with ``(record, result_json)`` as each run finishes."""

_PRELOAD = ["envs", "planners", "ditree.eval.worker"]


def watchdog_s(time_limit: float) -> float:
    """Wall-clock seconds after which a local worker is killed: generous, since validation, process
    start-up and a planner's own overrun come on top of the time limit."""
    return 1.5 * time_limit + 60.0


def _quiet() -> None:
    """Send this process's stdout/stderr (C++ prints of OMPL and PyBullet included) to /dev/null,
    so that workers do not garble the progress bar; errors come back in the record."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def share_cores(workers: int) -> None:
    """Give this worker its share of the cores for torch's intra-op threads: W processes each
    using every core oversubscribe the CPU and slow policy inference several-fold."""
    import os

    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, workers)))


def _child(conn, spec: RunSpec, save_result: bool, quiet: bool, workers: int = 1) -> None:
    if quiet:
        _quiet()
    share_cores(workers)
    try:
        out = execute_run(spec, save_result)
    except BaseException as e:  # noqa: BLE001 - report anything, even SystemExit, to the parent
        out = (failure_record(spec, f"error: {type(e).__name__}: {e}"), None)
    conn.send(out)
    conn.close()


def _context():
    try:
        ctx = mp.get_context("forkserver")
    except ValueError:  # pragma: no cover - platforms without fork (Windows)
        return mp.get_context("spawn")
    mods = list(_PRELOAD)
    try:
        import ditree.api  # noqa: F401  # preload it too once it exists

        mods.append("ditree.api")
    except ImportError:
        pass
    ctx.set_forkserver_preload(mods)
    return ctx


def run_local(specs: Iterable[RunSpec], workers: int, save_results: bool, on_done: Done, quiet: bool = True) -> None:
    """Run ``specs`` in fresh processes, ``workers`` at a time, calling ``on_done`` per finished run.
    ``quiet`` silences the workers' stdout and stderr."""
    ctx = _context()
    pending = deque(specs)
    running: dict[Any, tuple[Any, RunSpec, float]] = {}  # parent conn -> (process, spec, start time)
    old_term = _term_as_interrupt()
    try:
        while pending or running:
            while pending and len(running) < workers:
                spec = pending.popleft()
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(child, spec, save_results, quiet, workers), daemon=True,
                                   name=f"ditree-eval-{spec.planner}-{spec.trial}")
                proc.start()
                child.close()
                running[parent] = (proc, spec, time.monotonic())
            wait(list(running) + [p.sentinel for p, _, _ in running.values()], timeout=1.0)
            now = time.monotonic()
            for conn in list(running):
                proc, spec, t0 = running[conn]
                out = None
                if conn.poll():
                    try:
                        out = conn.recv()
                    except (EOFError, OSError):
                        proc.join(5)
                        out = (failure_record(spec, f"crash: worker exited with code {proc.exitcode}", now - t0), None)
                elif not proc.is_alive():
                    out = (failure_record(spec, f"crash: worker exited with code {proc.exitcode}", now - t0), None)
                elif now - t0 > watchdog_s(spec.time_limit):
                    proc.kill()
                    out = (failure_record(spec, f"crash: killed after {now - t0:.0f} s (watchdog)", now - t0), None)
                if out is None:
                    continue
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
                conn.close()
                del running[conn]
                on_done(*out)
    finally:
        for conn, (proc, _, _) in running.items():
            proc.kill()
            proc.join()
            conn.close()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _term_as_interrupt():
    """Make SIGTERM raise KeyboardInterrupt (main thread only), so that a terminated evaluation
    still kills its workers; returns the previous handler, or None if it was not changed."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def run_ray(specs: Iterable[RunSpec], save_results: bool, on_done: Done, address: str | None = None,
            num_cpus: int | None = None) -> None:
    """Run ``specs`` as Ray tasks (``address`` None starts a local Ray instance with ``num_cpus``)."""
    try:
        import ray
    except ImportError:
        from envs.errors import DitreeInputError

        raise DitreeInputError("--backend ray needs Ray: pip install 'ditree[distributed]'") from None
    started = False
    if not ray.is_initialized():
        kw: dict[str, Any] = {"address": address, "log_to_driver": False, "include_dashboard": False}
        if address is None and num_cpus:
            kw["num_cpus"] = num_cpus
        ray.init(**kw)
        started = True
    refs: dict[Any, RunSpec] = {}
    try:
        task = ray.remote(num_cpus=1, max_calls=1)(execute_run)
        refs = {task.remote(spec, save_results): spec for spec in specs}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            ref = done[0]
            spec = refs.pop(ref)
            try:
                out = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a lost worker is a crashed run
                out = (failure_record(spec, f"crash: ray task failed: {type(e).__name__}: {e}"), None)
            on_done(*out)
    finally:
        for ref in refs:  # only left over after an interruption
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()

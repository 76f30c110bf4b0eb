"""Robot-independent plumbing of expert collection: seeded worker split, parallel workers with
progress, and the dataset metadata every robot's expert writes.

A robot's expert module provides ``collect_worker(world, cfg, quota, seed, progress)`` (returns a
:class:`~ditree.data.expert.WorkerOutput`) and a subprocess entry ``worker_main(grid, cell_size,
name, cfg_dict, quota, seed, queue, wid)``; :func:`run_workers` runs them, one process per worker
(``fork`` where the platform has it: no re-import of torch, each worker builds its own PyBullet
clients). Worker ``w`` gets the ``w``-th child of ``np.random.SeedSequence(seed)`` and an equal
share of the episodes, and the episodes come back in worker order, so the same ``seed`` and
``workers`` give the same dataset.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from envs.errors import DitreeInputError
from envs.world import GridMap


def worker_quotas(episodes: int, workers: int) -> list[int]:
    """Episodes per worker: an equal share, the remainder to the first ones, no empty workers."""
    if episodes < 1:
        raise DitreeInputError(f"episodes must be >= 1, got {episodes}")
    if workers < 1:
        raise DitreeInputError(f"workers must be >= 1, got {workers}")
    quotas = [episodes // workers + (w < episodes % workers) for w in range(workers)]
    return [q for q in quotas if q > 0]


def run_workers(world: GridMap, cfg: Any, episodes: int, seed: int, workers: int, collect_worker: Callable,
                worker_main: Callable, progress: bool = True, desc: str = "expert episodes") -> list:
    """The workers' outputs (in worker order) for ``episodes`` kept episodes in ``world``."""
    from tqdm import tqdm

    quotas = worker_quotas(episodes, workers)
    seeds = np.random.SeedSequence(seed).spawn(workers)[: len(quotas)]
    bar = tqdm(total=episodes, desc=desc, unit="ep", disable=not progress)
    try:
        if len(quotas) == 1:
            return [collect_worker(world, cfg, quotas[0], seeds[0], progress=bar.update)]
        return _run_parallel(world, cfg, quotas, seeds, bar, worker_main)
    finally:
        bar.close()


def _run_parallel(world: GridMap, cfg: Any, quotas: list[int], seeds, bar, worker_main: Callable) -> list:
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker_main, daemon=True,
                         args=(world.grid, world.cell_size, world.name, cfg.to_dict(), q, s, queue, w))
             for w, (q, s) in enumerate(zip(quotas, seeds))]
    for p in procs:
        p.start()
    outs: dict[int, Any] = {}
    try:
        while len(outs) < len(procs):
            try:
                kind, wid, payload = queue.get(timeout=5.0)
            except queue_mod.Empty:  # check that the workers are still alive
                dead = [w for w, p in enumerate(procs) if not p.is_alive() and w not in outs]
                if dead:
                    raise RuntimeError(f"expert collection worker(s) {dead} died without a result") from None
                continue
            if kind == "progress":
                bar.update(payload)
            elif kind == "done":
                outs[wid] = payload
            else:
                raise RuntimeError(f"expert collection worker {wid} failed: {payload}")
    finally:
        for p in procs:
            if p.is_alive() and len(outs) < len(procs):
                p.terminate()
            p.join(timeout=10)
    return [outs[w] for w in range(len(procs))]


def collection_metadata(robot: Any, world: GridMap, outs: list, cfg: Any, reject_reasons: tuple[str, ...], seed: int,
                        workers: int, t0: float, extra_counts: dict[str, int] | None = None) -> dict[str, Any]:
    """The dataset metadata of a collection (``ditree.data.dataset``): format, robot and its
    parameters, footprint, map name/hash/cell size, dt, counts summed over the workers' outputs
    (plus ``extra_counts``, robot-specific), validator, noise counts, seed, workers, expert
    settings, versions, creation time and the time since ``t0`` (``time.perf_counter()``)."""
    import ditree
    from ditree.data.dataset import FORMAT_VERSION

    eps = [e for o in outs for e in o.episodes]
    attempted = sum(o.attempted for o in outs)
    solved = sum(o.solved for o in outs)
    fp = robot.footprint
    return {
        "format_version": FORMAT_VERSION,
        "robot": robot.name,
        "robot_params": robot.params.to_dict(),
        "footprint": {"length": fp.length, "width": fp.width},
        "map_name": world.name,
        "map_hash": world.content_hash(),
        "cell_size": world.cell_size,
        "dt": robot.dt,
        "counts": {
            "episodes": len(eps),
            "pairs": int(sum(len(e.states) for e in eps)),
            "attempted": attempted,
            "solved": solved,
            "success_rate": solved / max(attempted, 1),
            "rejected": {r: sum(o.rejected[r] for o in outs) for r in reject_reasons},
            "tries": sum(o.tries for o in outs),
            **(extra_counts or {}),
            "moving_starts_attempted": sum(o.moving for o in outs),
            "moving_starts_solved": sum(o.moving_solved for o in outs),
            "behind_attempted": sum(o.behind for o in outs),
            "behind_solved": sum(o.behind_solved for o in outs),
        },
        "validator": sorted({o.validator for o in outs}),
        **({"noise": {"attempted": sum(o.noisy for o in outs), "solved": sum(o.noisy_solved for o in outs)}}
           if cfg.noisy else {}),
        "seed": int(seed),
        "workers": int(workers),
        "expert": cfg.to_dict(),
        "ditree_version": ditree.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "collect_time_s": round(time.perf_counter() - t0, 3),
    }

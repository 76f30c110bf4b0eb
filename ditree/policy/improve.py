"""Self-improvement rounds (``ditree improve``): the planner teaches the policy that guides it.

Round ``r`` (1, 2, ...) starts from the current checkpoint (the start one for round 1, else
``OUT/round_<r-1>.pt``) and, all seeded from ``(seed, r)``:

1. **plans** ``problems`` fresh training problems (the search expert's
   :func:`~ditree.data.search_expert.problem_factory` for the robot's world source; only indices
   whose world seed lies outside the held-out range of :mod:`ditree.eval.heldout`; never a suite
   map or benchmark instance) with ``ditree-star`` guided by the current checkpoint for an
   iteration budget (:func:`~ditree.data.search_expert.solve_episode`), keeping validated paths;
2. **relabels** (DAgger-style): rolls the current policy alone in closed loop from the same
   problems' starts (:func:`ditree.policy.evaluate.closed_loop_problems`, each to its goal region);
   where a rollout collides or runs out of time, the state ``relabel_back_s`` before the failure
   becomes the start of a problem to the same goal, solved by the search expert (``sst``), and a
   validated path is kept as a corrective episode;
3. **fine-tunes** the current policy (weights and normaliser kept:
   :func:`~ditree.policy.train.train_policy` ``init_from``) on the seed data plus every round's new
   episodes for ``finetune_steps`` optimiser steps, writing ``OUT/round_<r>.pt`` + ``.json``;
4. **evaluates** the round's checkpoint on ``eval_problems`` held-out problems
   (:func:`ditree.eval.heldout.heldout_problems`, fixed across rounds): the ``ditree`` planner
   (each run in a fresh process, as the benchmarks do) for ``eval_time`` s, and the policy alone in
   closed loop; for the car and racecar optionally also on the 3 validation scenarios;
5. writes one row (``OUT/round_<r>/row.json``) and rewrites ``OUT/rounds.csv`` and ``OUT/rounds.md``
   from every finished round's row.

Round 0 is the start checkpoint evaluated before any improvement. Everything a round makes lies in
``OUT/round_<r>/`` (``plan.parts`` and ``relabel.parts``: one file per finished problem, as the search
expert writes them; ``rollouts.json``; ``data.npz``, the round's new episodes; ``eval/runs.jsonl``;
``state.json``, the finished stages and their wall times): a killed run restarts at the unfinished
stage of the unfinished round (only problems in flight and the current fine-tuning epoch are lost).
``OUT/improve.json`` records the configuration, the start checkpoint and the seed data; a rerun with
other settings is refused, except a larger ``rounds``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from envs.errors import DitreeInputError

MANIFEST = "improve.json"
MANIFEST_VERSION = 1
STAGES = ("plan", "rollouts", "relabel", "data", "finetune", "eval")
VALIDATION_ROBOTS = ("car", "racecar")
"""Robots that plan on the ditree_car suite's maps, whose validation scenarios ``eval_validation`` adds."""
_CONFIG_NOT_IDENTITY = ("rounds",)


_PAIR_FIELDS = ("planner_params", "eval_params")
"""ImproveConfig's ``((name, value), ...)`` fields (dicts in its JSON form)."""


@dataclass(frozen=True)
class ImproveConfig:
    """Settings of :func:`improve` (module docstring); every count is per round.

    ``rounds``: improvement rounds (round 0, the start checkpoint's evaluation, comes on top).
    ``problems``: training problems planned with ``ditree-star``; ``budget_iters``: its
    ``max_iterations`` per problem; ``planner_params``: further ``ditree-star`` parameters
    (``((name, value), ...)``; not ``checkpoint``, which is the current one). ``relabel_iters``:
    ``sst`` iterations per relabelling problem; ``relabel_back_s``: how long before a failed
    rollout's failure its relabelling problem starts (s); ``rollout_s``: closed-loop rollout length
    (s) after which a rollout counts as timed out. ``finetune_steps``: optimiser steps of
    fine-tuning, at learning rate ``finetune_lr`` (linear warm-up over ``warmup_steps``, then cosine)
    with batches of ``batch_size``. ``eval_problems``: held-out problems (0: none);
    ``eval_time``: the ``ditree`` planner's time limit on each (s); ``eval_params``: further
    ``ditree`` parameters; ``eval_rollouts``: policy-alone rollouts per problem;
    ``eval_validation``: also the 3 validation scenarios (car and racecar) with
    ``validation_trials`` trials each. ``worlds``, ``kinds``, ``grid_rows``, ``grid_cols``: the
    training world source (:class:`~ditree.data.search_expert.SearchExpertConfig`); the held-out
    problems use the same source and kinds with :mod:`ditree.eval.heldout`'s defaults
    (``eval_rows`` cells for grid worlds, base seed ``eval_seed``). ``seed``: the base seed.
    """

    rounds: int = 3
    problems: int = 100
    budget_iters: int = 300
    planner_params: tuple[tuple[str, Any], ...] = ()
    relabel_iters: int = 600
    relabel_back_s: float = 1.0
    rollout_s: float = 30.0
    finetune_steps: int = 2000
    finetune_lr: float = 3e-4
    warmup_steps: int = 100
    batch_size: int = 256
    eval_problems: int = 10
    eval_time: float = 10.0
    eval_params: tuple[tuple[str, Any], ...] = ()
    eval_rollouts: int = 4
    eval_validation: bool = False
    validation_trials: int = 3
    eval_rows: int = 15
    eval_seed: int = 0
    worlds: str = "auto"
    kinds: tuple[str, ...] = ()
    grid_rows: int = 12
    grid_cols: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("planner_params", "eval_params"):
            object.__setattr__(self, name, tuple(sorted((str(k), v) for k, v in dict(getattr(self, name)).items())))
        object.__setattr__(self, "kinds", tuple(str(k) for k in self.kinds))
        bad = self.problems_found()
        if bad:
            raise DitreeInputError(f"bad improve option(s): {'; '.join(bad)}")

    def problems_found(self) -> list[str]:
        """What is wrong with these settings (empty: nothing), each naming the field."""
        out = []

        def need_int(name: str, least: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                out.append(f"{name} must be an integer >= {least}, got {v!r}")

        for name in ("rounds", "problems", "budget_iters", "relabel_iters", "finetune_steps", "batch_size",
                     "eval_rollouts", "validation_trials"):
            need_int(name, 1)
        for name in ("warmup_steps", "eval_problems"):
            need_int(name, 0)
        need_int("eval_rows", 5)
        need_int("eval_seed", 0)
        for name in ("relabel_back_s", "rollout_s", "finetune_lr", "eval_time"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                out.append(f"{name} must be a positive number, got {v!r}")
        if self.worlds not in ("auto", "grid", "box"):
            out.append(f"worlds must be one of ['auto', 'grid', 'box'], got {self.worlds!r}")
        if "checkpoint" in dict(self.planner_params) or "checkpoint" in dict(self.eval_params):
            out.append("planner_params / eval_params may not set checkpoint: each round uses its own")
        reserved = sorted(set(dict(self.planner_params)) & {"max_iterations", "return_first", "polish", "connect_tol",
                                                              "record_tree"})
        if reserved:
            out.append(f"planner_params {reserved} are set by improve itself")
        from ditree.registry import planner_entry

        for planner, params in (("ditree-star", self.planner_params), ("ditree", self.eval_params)):
            unknown = sorted(set(dict(params)) - set(planner_entry(planner).param_fields()))
            if unknown:
                out.append(f"planner {planner!r} has no parameter(s) {unknown}")
        return out

    def to_dict(self) -> dict[str, Any]:
        from ditree.data.search_expert import config_to_dict

        return config_to_dict(self, pairs=_PAIR_FIELDS, tuples=("kinds",))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImproveConfig:
        from ditree.data.search_expert import config_from_dict

        return config_from_dict(cls, d, "improve config", pairs=_PAIR_FIELDS, tuples=("kinds",))

    def expert_config(self, planner: str, iterations: int, params: dict[str, Any]):
        """The :class:`~ditree.data.search_expert.SearchExpertConfig` of one stage's planning."""
        from ditree.data.search_expert import SearchExpertConfig

        return SearchExpertConfig(planner=planner, iterations=iterations, params=tuple(params.items()),
                                  worlds=self.worlds, kinds=self.kinds, grid_rows=self.grid_rows,
                                  grid_cols=self.grid_cols)


def round_seed(seed: int, r: int) -> int:
    """The seed of round ``r`` (its problems, rollouts and fine-tuning), from ``(seed, r)``."""
    return int(np.random.SeedSequence([int(seed), 0x1A9B, int(r)]).generate_state(1)[0]) & 0x7FFFFFFF


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------------------------ planning jobs
_J: dict[str, Any] = {}  # worker-process state (set by _init_jobs)


def _init_jobs(cfg_dict: dict, robot_name: str, robot_params: dict, seed: int, directory: str,
               starts: dict[int, list[float]] | None) -> None:
    from ditree.data.search_expert import SearchExpertConfig, problem_factory
    from envs.registry import robot_spec

    try:
        import torch

        torch.set_num_threads(1)  # one core per worker process
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    cfg = SearchExpertConfig.from_dict(cfg_dict)
    robot = robot_spec(robot_name).make(robot_params)
    _J.update(cfg=cfg, robot=robot, factory=problem_factory(cfg, robot, seed), dir=Path(directory),
              starts={int(k): np.asarray(v, dtype=float) for k, v in (starts or {}).items()})


def job_problem(index: int):
    """Problem ``index`` of the current job set: the factory's, from the recorded start if one is given."""
    problem = _J["factory"](index)
    start = _J["starts"].get(index)
    if start is not None:
        problem = with_start(problem, start)
    return problem


def with_start(problem, start: np.ndarray):
    """``problem`` from ``start`` to the same goal region (its ``meta`` copied)."""
    p = dataclasses.replace(problem, start=np.asarray(start, dtype=float), goal=problem.goal_region,
                            meta=dict(problem.meta))
    return p


def _job(index: int) -> tuple[int, str | None]:
    from ditree.data.search_expert import solve_episode

    try:
        problem = job_problem(index)
        rec = solve_episode(index, _J["cfg"], _J["robot"], lambda _i: problem)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which stops the round
        import traceback

        return index, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    rec.save(_J["dir"] / f"ep_{index:06d}.npz")
    return index, None


def plan_jobs(indices: list[int], directory: Path, manifest: dict, init_args: tuple, workers: int,
              progress: bool, desc: str) -> dict:
    """Plan problems ``indices`` (:func:`job_problem` in workers set up with ``init_args``) into the
    resumable parts folder ``directory`` (:func:`ditree.data.search_expert.open_parts`); returns
    ``{index: EpisodeRecord}``. ``workers`` processes (``fork``) at a time."""
    from tqdm import tqdm

    from ditree.data.search_expert import EpisodeRecord, open_parts

    done = open_parts(directory, manifest)
    todo = [i for i in indices if i not in done]
    bar = tqdm(total=len(indices), initial=len(indices) - len(todo), desc=desc, unit="problem", disable=not progress)
    try:
        if todo and (workers == 1 or len(todo) == 1):
            import torch

            threads = torch.get_num_threads()
            try:
                _init_jobs(*init_args)
                _drain((_job(i) for i in todo), bar)
            finally:
                torch.set_num_threads(threads)
        elif todo:
            import multiprocessing as mp

            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ctx.Pool(min(workers, len(todo)), initializer=_init_jobs, initargs=init_args) as pool:
                _drain(pool.imap_unordered(_job, todo), bar)
    finally:
        bar.close()
    return {i: EpisodeRecord.load(directory / f"ep_{i:06d}.npz", i) for i in indices}


def _drain(results, bar) -> None:
    for index, error in results:
        if error:
            raise RuntimeError(f"planning problem {index} failed: {error}")
        bar.update(1)


# ----------------------------------------------------------------------------------------- a round
class RoundState:
    """``OUT/round_<r>/state.json``: the finished stages, their wall times and small results."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "state.json"
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {"stages": {}}

    def done(self, stage: str) -> bool:
        return stage in self.data["stages"]

    def finish(self, stage: str, wall_s: float, **info: Any) -> None:
        self.data["stages"][stage] = {"wall_s": round(float(wall_s), 3), **info}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)

    def info(self, stage: str) -> dict[str, Any]:
        return self.data["stages"][stage]

    def wall_s(self) -> float:
        return float(sum(s["wall_s"] for s in self.data["stages"].values()))


@dataclass
class ImproveRun:
    """The fixed parts of one ``ditree improve`` run (built by :func:`improve`)."""

    cfg: ImproveConfig
    out: Path
    start: Path
    seed_data: list[Path]
    robot: Any
    source: str
    kinds: tuple[str, ...]
    workers: int
    progress: bool
    log: Callable[[str], None]
    data_dir: str | None = None
    device: str = "cpu"

    def checkpoint(self, r: int) -> Path:
        """The checkpoint of round ``r`` (round 0: the start one)."""
        return self.start if r == 0 else self.out / f"round_{r}.pt"

    def round_dir(self, r: int) -> Path:
        return self.out / f"round_{r}"


def training_indices(run: ImproveRun, rseed: int, n: int) -> list[int]:
    """The first ``n`` problem indices of the round's factory whose world seed is not a held-out one."""
    from ditree.data.search_expert import problem_factory
    from ditree.eval.heldout import is_heldout_seed

    factory = problem_factory(run.cfg.expert_config("sst", 1, {}), run.robot, rseed)
    out, i = [], 0
    while len(out) < n:
        seed = factory(i).meta.get("generator", {}).get("seed")
        if seed is None or not is_heldout_seed(seed):
            out.append(i)
        i += 1
    return out


def _stage_manifest(run: ImproveRun, stage: str, r: int, rseed: int, cfg, extra: dict | None = None) -> dict:
    return {"manifest_version": MANIFEST_VERSION, "stage": stage, "round": r, "robot": run.robot.name,
            "robot_params": run.robot.params.to_dict(), "seed": rseed, "expert": cfg.to_dict(), **(extra or {})}


def stage_plan(run: ImproveRun, r: int, rseed: int, indices: list[int], ckpt_sha: str) -> dict:
    """Step 1: ``ditree-star`` with the current checkpoint on the round's training problems."""
    params = {**dict(run.cfg.planner_params), "checkpoint": str(run.checkpoint(r - 1).resolve())}
    cfg = run.cfg.expert_config("ditree-star", run.cfg.budget_iters, params)
    man = _stage_manifest(run, "plan", r, rseed, cfg, {"checkpoint_sha256": ckpt_sha})
    man["expert"]["params"]["checkpoint"] = ckpt_sha  # the content names it, not the path
    init = (cfg.to_dict(), run.robot.name, run.robot.params.to_dict(), rseed, str(run.round_dir(r) / "plan.parts"),
            None)
    return plan_jobs(indices, run.round_dir(r) / "plan.parts", man, init, run.workers, run.progress,
                     f"round {r}: ditree-star")


def stage_rollouts(run: ImproveRun, r: int, rseed: int, indices: list[int]) -> dict[int, dict]:
    """Step 2a: the current policy alone in closed loop from each training problem's start;
    ``{index: {success, collided, steps, relabel_start}}`` (``relabel_start``: the state
    ``relabel_back_s`` before a failure, None for a success or a failure within that time)."""
    from ditree.data.search_expert import problem_factory
    from ditree.policy.checkpoint import load_policy
    from ditree.policy.evaluate import closed_loop_problems

    policy = load_policy(run.checkpoint(r - 1), robot=run.robot)
    factory = problem_factory(run.cfg.expert_config("sst", 1, {}), run.robot, rseed)
    dt = float(run.robot.dt)
    back = max(1, round(run.cfg.relabel_back_s / dt))
    res = closed_loop_problems(policy, [factory(i) for i in indices], 1, max_steps=max(1, round(run.cfg.rollout_s / dt)),
                               seed=rseed, record=True)
    out = {}
    for j, i in enumerate(indices):
        traj = res.trajectories[j]
        k = len(traj) - 1 - back
        ok = bool(res.success[j])
        out[i] = {"success": ok, "collided": bool(res.collided[j]), "steps": int(res.steps[j]),
                  "relabel_start": None if ok or k < 1 else [float(v) for v in traj[k]]}
    return out


def stage_relabel(run: ImproveRun, r: int, rseed: int, rollouts: dict[int, dict], ckpt_sha: str) -> dict:
    """Step 2b: ``sst`` from each failed rollout's relabelling state to the same goal region."""
    from envs.errors import ScenarioError

    cfg = run.cfg.expert_config("sst", run.cfg.relabel_iters, {})
    starts, skipped = {}, 0
    from ditree.data.search_expert import problem_factory

    factory = problem_factory(cfg, run.robot, rseed)
    for i, ro in rollouts.items():
        if ro["relabel_start"] is None:
            continue
        try:  # a state the problem refuses (outside a box world's bounds, ...) is no problem to solve
            with_start(factory(i), np.asarray(ro["relabel_start"]))
        except (ValueError, ScenarioError):
            skipped += 1
            continue
        starts[i] = ro["relabel_start"]
    man = _stage_manifest(run, "relabel", r, rseed, cfg, {"checkpoint_sha256": ckpt_sha,
                                                            "starts": {str(k): v for k, v in starts.items()}})
    init = (cfg.to_dict(), run.robot.name, run.robot.params.to_dict(), rseed, str(run.round_dir(r) / "relabel.parts"),
            starts)
    recs = plan_jobs(sorted(starts), run.round_dir(r) / "relabel.parts", man, init, run.workers, run.progress,
                     f"round {r}: relabel (sst)")
    if skipped:
        run.log(f"round {r}: {skipped} relabelling state(s) refused as problem starts")
    return recs


def round_dataset(run: ImproveRun, r: int, rseed: int, planned: dict, relabelled: dict):
    """The round's new episodes (planned, then relabelled, each in index order) as an
    ``ExpertDataset``, or None when there are none."""
    import ditree
    from ditree.data.dataset import Episode, ExpertDataset

    worlds, ids, episodes, meta = [], {}, [], []
    for kind, recs in (("plan", planned), ("relabel", relabelled)):
        for i in sorted(recs):
            rec = recs[i]
            if not rec.kept:
                continue
            key = f"{type(rec.world).__name__}:{rec.world.content_hash()}"
            if key not in ids:
                ids[key] = len(worlds)
                worlds.append(rec.world)
            episodes.append(Episode(rec.states, rec.controls, ids[key], rec.goal_xy, rec.goal_state))
            meta.append({"kind": kind, **{k: v for k, v in rec.meta.items() if k not in ("plan_time_s", "cpu_s")}})
    if not episodes:
        return None
    attempted = len(planned) + len(relabelled)
    fp = run.robot.footprint
    metadata = {
        "robot": run.robot.name,
        "robot_params": run.robot.params.to_dict(),
        "footprint": {"length": fp.length, "width": fp.width},
        "map_name": f"generated {run.source} worlds",
        "dt": run.robot.dt,
        "counts": {"episodes": len(episodes), "pairs": int(sum(len(e.controls) for e in episodes)),
                   "attempted": attempted, "solved": len(episodes), "success_rate": len(episodes) / attempted,
                   "rejected": {}, "worlds": len(worlds)},
        "validator": ["planners.validate (re-simulation, PyBullet at every state, goal region)"],
        "seed": int(rseed),
        "expert": {"kind": "improve", "round": r, "planner": "ditree-star", "relabel_planner": "sst",
                   "iterations": run.cfg.budget_iters, "relabel_iterations": run.cfg.relabel_iters},
        "training_worlds": f"generated only ({run.source} worlds; no suite map, scenario or benchmark instance)",
        "world_source": run.source,
        "episodes_meta": meta,
        "ditree_version": ditree.__version__,
    }
    return ExpertDataset.from_episodes(run.robot.name, episodes, worlds, metadata)


def all_data(run: ImproveRun, r: int):
    """The seed data and the new episodes of rounds 1..``r``, concatenated."""
    from ditree.data.dataset import ExpertDataset
    from ditree.policy.train import load_datasets

    parts = [load_datasets(run.seed_data)]
    for k in range(1, r + 1):
        f = run.round_dir(k) / "data.npz"
        if f.is_file():
            parts.append(ExpertDataset.load(f))
    return parts[0] if len(parts) == 1 else ExpertDataset.concat(parts)


def finetune_schedule(dataset, steps: int, batch_size: int, val_fraction: float, seed: int) -> tuple[int, int]:
    """``(epochs, max_steps_per_epoch)`` that make about ``steps`` optimiser steps (at least
    ``steps``, at most ``epochs - 1`` more) on ``dataset``'s training split."""
    from ditree.policy.train import split_episodes

    train_eps, _ = split_episodes(dataset.num_episodes, val_fraction, seed)
    rows = int(dataset.episode_lengths()[train_eps].sum())
    per_epoch = max(1, math.ceil(rows / batch_size))
    epochs = max(1, math.ceil(steps / per_epoch))
    return epochs, math.ceil(steps / epochs)


def stage_finetune(run: ImproveRun, r: int, rseed: int) -> dict:
    """Step 3: fine-tune the current policy on all data so far into ``OUT/round_<r>.pt``."""
    from ditree.policy.config import TrainConfig
    from ditree.policy.train import train_policy

    data = all_data(run, r)
    val_fraction = 0.05 if data.num_episodes >= 4 else 0.0
    epochs, per_epoch = finetune_schedule(data, run.cfg.finetune_steps, run.cfg.batch_size, val_fraction, rseed)
    tcfg = TrainConfig(epochs=epochs, max_steps_per_epoch=per_epoch, batch_size=run.cfg.batch_size,
                       lr=run.cfg.finetune_lr, warmup_steps=min(run.cfg.warmup_steps, max(1, run.cfg.finetune_steps // 5)),
                       val_fraction=val_fraction, seed=rseed)
    out = run.checkpoint(r)
    state = out.with_name(out.stem + ".train.pt")
    res = train_policy(data, out, train_config=tcfg, device=run.device, resume=state.is_file(), progress=run.progress,
                       data_path=f"improve round {r}: seed data + rounds 1..{r}", log=run.log,
                       init_from=run.checkpoint(r - 1))
    if res.interrupted:
        raise KeyboardInterrupt
    state.unlink(missing_ok=True)  # optimiser state: only a killed fine-tuning needs it
    return {"episodes": data.num_episodes, "pairs": data.num_pairs, "steps": res.history[-1]["step"] if res.history
            else 0, "train_time_s": round(res.train_time_s, 2)}


def eval_problems(run: ImproveRun) -> list[tuple[str, Any, str]]:
    """The held-out problems ``(name, problem, set)`` (set "heldout"), plus the validation scenarios
    (set "validation") with ``eval_validation``."""
    from ditree.eval.heldout import heldout_problems

    out = [(n, p, "heldout") for n, p in heldout_problems(run.robot.name, run.source, run.kinds,
                                                         run.cfg.eval_problems, run.cfg.eval_seed, run.cfg.eval_rows)]
    if run.cfg.eval_validation:
        from envs.problem import suite_scenario_list, validation_problem

        for sc in suite_scenario_list("ditree_car", "validation", run.data_dir):
            out.append((sc.name, validation_problem(sc.name, robot=run.robot, data_dir=run.data_dir), "validation"))
    return out


def stage_eval(run: ImproveRun, r: int) -> dict:
    """Step 4: DiTree with the round's checkpoint (fresh processes) and the policy alone on the
    evaluation problems; the summary per set."""
    from ditree.eval.backends import run_local
    from ditree.eval.records import RecordWriter, load_records, record_key
    from ditree.eval.spec import RunSpec, derive_seed
    from ditree.policy.checkpoint import load_policy
    from ditree.policy.evaluate import closed_loop_problems

    problems = eval_problems(run)
    ckpt = str(run.checkpoint(r).resolve())
    params = {**dict(run.cfg.eval_params), "checkpoint": ckpt}
    specs = []
    for name, p, which in problems:
        trials = run.cfg.validation_trials if which == "validation" else 1
        for t in range(trials):
            specs.append(RunSpec(scenario=name, map=getattr(p.world, "name", name), planner="ditree", trial=t,
                                 seed=derive_seed(run.cfg.eval_seed, name, "ditree", t), time_limit=run.cfg.eval_time,
                                 problem=p, params=params, robot=run.robot.name))
    d = run.round_dir(r) / "eval"
    d.mkdir(parents=True, exist_ok=True)
    runs_file = d / "runs.jsonl"
    keys = {s.key for s in specs}
    records = [x for x in load_records(runs_file) if record_key(x) in keys]
    done = {record_key(x) for x in records}
    todo = [s for s in specs if s.key not in done]
    if todo:
        run.log(f"round {r}: evaluating {len(todo)} DiTree run(s) of {run.cfg.eval_time:g} s")
        with RecordWriter(runs_file) as writer:
            run_local(todo, run.workers, False, lambda rec, _json: (records.append(rec), writer.write(rec)))
    crashed = [x for x in records if x.get("status") == "crash"]
    if crashed:
        run.log(f"round {r}: {len(crashed)} evaluation run(s) crashed, e.g. {crashed[0]['scenario']}: "
                f"{crashed[0].get('reason', '')[:200]}")
    policy = load_policy(ckpt, robot=run.robot)
    dt = float(run.robot.dt)
    n = run.cfg.eval_rollouts
    summary: dict[str, Any] = {}
    for which in ("heldout", "validation"):
        names = {name for name, _, w in problems if w == which}
        if which == "validation" and not run.cfg.eval_validation:
            continue
        recs = [x for x in records if x["scenario"] in names]
        ok = [x for x in recs if x.get("success")]
        ratios = [x["first_duration_ratio"] for x in ok if x.get("first_duration_ratio")]
        sub = [p for _, p, w in problems if w == which]
        res = closed_loop_problems(policy, sub, n, max_steps=max(1, round(run.cfg.rollout_s / dt)),
                                   seed=derive_seed(run.cfg.eval_seed, which, "policy", 0))
        wins, total = int(res.success.sum()), len(res.success)
        summary[which] = {
            "ditree_solved": len(ok), "ditree_runs": len(recs),
            "ditree_median_time_s": _median([x["first_time_s"] for x in ok]),
            "ditree_first_ratio": _median(ratios),
            "policy_success": wins / total if total else None, "policy_rollouts": total,
        }
    return summary


def _median(xs: list[float]) -> float | None:
    return round(float(np.median(xs)), 4) if xs else None


# ----------------------------------------------------------------------------------------- the table
COLUMNS = ("round", "episodes", "pairs", "new_planned", "new_relabelled", "rollouts_failed", "wall_s",
           "ditree_success", "ditree_median_time_s", "ditree_first_ratio", "policy_success",
           "val_ditree_success", "val_median_time_s", "val_first_ratio", "val_policy_success")


def make_row(r: int, episodes: int, pairs: int, new_planned: int | None, new_relabelled: int | None,
             rollouts_failed: int | None, wall_s: float, ev: dict) -> dict[str, Any]:
    """One row of the table (:data:`COLUMNS`)."""
    def rate(s: dict | None, key: str) -> Any:
        if not s:
            return None
        if key == "ditree_success":
            return f"{s['ditree_solved']}/{s['ditree_runs']}" if s["ditree_runs"] else None
        return s.get(key)

    h, v = ev.get("heldout"), ev.get("validation")
    return {"round": r, "episodes": episodes, "pairs": pairs, "new_planned": new_planned,
            "new_relabelled": new_relabelled, "rollouts_failed": rollouts_failed, "wall_s": round(wall_s, 1),
            "ditree_success": rate(h, "ditree_success"), "ditree_median_time_s": rate(h, "ditree_median_time_s"),
            "ditree_first_ratio": rate(h, "ditree_first_ratio"), "policy_success": rate(h, "policy_success"),
            "val_ditree_success": rate(v, "ditree_success"), "val_median_time_s": rate(v, "ditree_median_time_s"),
            "val_first_ratio": rate(v, "ditree_first_ratio"), "val_policy_success": rate(v, "policy_success")}


def write_tables(run: ImproveRun) -> list[dict]:
    """Rewrite ``rounds.csv`` and ``rounds.md`` from every finished round's ``row.json``; returns the rows."""
    rows = []
    r = 0
    while (run.round_dir(r) / "row.json").is_file():
        rows.append(json.loads((run.round_dir(r) / "row.json").read_text()))
        r += 1
    tmp = run.out / "rounds.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
    os.replace(tmp, run.out / "rounds.csv")
    cols = [c for c in COLUMNS if not c.startswith("val_") or run.cfg.eval_validation]
    c = run.cfg
    lines = [f"# ditree improve: {run.robot.name}", "",
             f"Start {run.start}, seed data {', '.join(str(p) for p in run.seed_data)}; per round {c.problems} "
             f"{run.source} training problems (ditree-star, {c.budget_iters} iterations), sst relabelling "
             f"({c.relabel_iters} iterations, {c.relabel_back_s:g} s before a failure), {c.finetune_steps} fine-tuning "
             f"steps; evaluation on {c.eval_problems} held-out problems (ditree, {c.eval_time:g} s; policy alone, "
             f"{c.eval_rollouts} rollouts of at most {c.rollout_s:g} s each)"
             + (f" and the 3 validation scenarios x {c.validation_trials}" if c.eval_validation else "")
             + f"; seed {c.seed}. Episodes and pairs: all training data so far.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k)) for k in cols) + " |")
    (run.out / "rounds.md").write_text("\n".join(lines) + "\n")
    return rows


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


# -------------------------------------------------------------------------------------- the driver
def _check_manifest(run: ImproveRun) -> None:
    from ditree.policy.train import load_datasets

    want = {"manifest_version": MANIFEST_VERSION, "robot": run.robot.name,
            "robot_params": run.robot.params.to_dict(), "start_checkpoint": str(run.start.resolve()),
            "start_sha256": sha256_file(run.start),
            "seed_data": [str(p.resolve()) for p in run.seed_data], "seed_data_hash": load_datasets(run.seed_data).content_hash(),
            "config": {k: v for k, v in run.cfg.to_dict().items() if k not in _CONFIG_NOT_IDENTITY}}
    want = json.loads(json.dumps(want))
    path = run.out / MANIFEST
    if path.is_file():
        try:
            have = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise DitreeInputError(f"{path}: not valid JSON ({e})") from None
        if have != want:
            from ditree.data.search_expert import _diff_keys

            raise DitreeInputError(f"{run.out} holds another improvement run (differs in "
                                   f"{', '.join(_diff_keys(have, want))}); use another --out or delete that folder")
        return
    run.out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(want, indent=1, sort_keys=True))
    os.replace(tmp, path)


def run_round(run: ImproveRun, r: int) -> dict:
    """Every stage of round ``r`` not yet finished, then its row (``round_<r>/row.json``)."""
    d = run.round_dir(r)
    d.mkdir(parents=True, exist_ok=True)
    st = RoundState(d)
    if r == 0:
        if not st.done("eval"):
            t0 = time.perf_counter()
            ev = stage_eval(run, 0)
            st.finish("eval", time.perf_counter() - t0, summary=ev)
        data = all_data(run, 0)
        row = make_row(0, data.num_episodes, data.num_pairs, None, None, None, st.wall_s(), st.info("eval")["summary"])
    else:
        rseed = round_seed(run.cfg.seed, r)
        sha = sha256_file(run.checkpoint(r - 1))
        indices = training_indices(run, rseed, run.cfg.problems)
        t0 = time.perf_counter()
        planned = stage_plan(run, r, rseed, indices, sha)
        if not st.done("plan"):
            st.finish("plan", time.perf_counter() - t0, kept=sum(x.kept for x in planned.values()))
        t0 = time.perf_counter()
        ro_file = d / "rollouts.json"
        if not st.done("rollouts"):
            rollouts = stage_rollouts(run, r, rseed, indices)
            ro_file.write_text(json.dumps({str(k): v for k, v in rollouts.items()}))
            st.finish("rollouts", time.perf_counter() - t0, failed=sum(not v["success"] for v in rollouts.values()))
        rollouts = {int(k): v for k, v in json.loads(ro_file.read_text()).items()}
        t0 = time.perf_counter()
        relabelled = stage_relabel(run, r, rseed, rollouts, sha)
        if not st.done("relabel"):
            st.finish("relabel", time.perf_counter() - t0, kept=sum(x.kept for x in relabelled.values()),
                      planned=len(relabelled))
        if not st.done("data"):
            t0 = time.perf_counter()
            ds = round_dataset(run, r, rseed, planned, relabelled)
            if ds is not None:
                ds.save(d / "data.npz")
            st.finish("data", time.perf_counter() - t0, episodes=0 if ds is None else ds.num_episodes)
        if not st.done("finetune"):
            t0 = time.perf_counter()
            info = stage_finetune(run, r, rseed)
            st.finish("finetune", time.perf_counter() - t0, **info)
        if not st.done("eval"):
            t0 = time.perf_counter()
            ev = stage_eval(run, r)
            st.finish("eval", time.perf_counter() - t0, summary=ev)
        ft = st.info("finetune")
        row = make_row(r, ft["episodes"], ft["pairs"], st.info("plan")["kept"], st.info("relabel")["kept"],
                       st.info("rollouts")["failed"], st.wall_s(), st.info("eval")["summary"])
    (d / "row.json").write_text(json.dumps(row, indent=1))
    return row


def improve(checkpoint: str | Path, data: str | Path | list, out: str | Path, cfg: ImproveConfig | None = None,
            workers: int = 2, progress: bool = True, log: Callable[[str], None] = print,
            data_dir: str | None = None, device: str = "cpu") -> list[dict]:
    """Run the rounds of the module docstring from the policy ``checkpoint`` and its training data
    ``data`` (one .npz or several of the same robot) into ``out``; returns the table's rows (round 0
    first). Resumes a run in ``out`` with the same settings. ``device``: where fine-tuning runs
    ("cpu", the default, gives the same weights for a seed; "cuda" is faster). Bad options raise
    :class:`DitreeInputError` (one line)."""
    from ditree.data.search_expert import default_world_source, source_kinds
    from ditree.policy.checkpoint import checkpoint_paths, load_policy
    from ditree.policy.train import load_datasets, robot_of

    cfg = cfg or ImproveConfig()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise DitreeInputError(f"workers must be an integer >= 1, got {workers!r}")
    pt, _ = checkpoint_paths(checkpoint)
    policy = load_policy(pt)  # a missing or bad checkpoint fails here, naming the file
    paths = [Path(p) for p in ([data] if isinstance(data, (str, Path)) else data)]
    ds = load_datasets(paths)
    robot = robot_of(ds)
    if robot.name != policy.robot.name or robot.params != policy.robot.params:
        raise DitreeInputError(f"{pt} is a policy of robot {policy.robot.name!r} but the data {paths[0]} are of "
                               f"{robot.name!r}" + (" with other parameters" if robot.name == policy.robot.name else ""))
    source = cfg.worlds if cfg.worlds != "auto" else default_world_source(robot.name)
    kinds = cfg.kinds or source_kinds(source)
    bad = sorted(set(kinds) - set(source_kinds(source)))
    if bad:
        raise DitreeInputError(f"unknown {source} world kind(s) {bad}; known: {list(source_kinds(source))}")
    if cfg.eval_validation and robot.name not in VALIDATION_ROBOTS:
        raise DitreeInputError(f"eval_validation: the validation scenarios are the car's maps (robots "
                               f"{', '.join(VALIDATION_ROBOTS)}), not for {robot.name!r}")
    if device not in ("cpu", "cuda"):
        raise DitreeInputError(f"device must be 'cpu' or 'cuda', got {device!r}")
    run = ImproveRun(cfg, Path(out), pt, paths, robot, source, tuple(kinds), workers, progress, log, data_dir, device)
    _check_manifest(run)
    rows = []
    for r in range(cfg.rounds + 1):
        row_file = run.round_dir(r) / "row.json"
        if row_file.is_file():
            rows.append(json.loads(row_file.read_text()))
            continue
        log(f"round {r}" + (" (the start checkpoint)" if r == 0 else f" of {cfg.rounds}"))
        rows.append(run_round(run, r))
        write_tables(run)
        log(f"round {r}: " + ", ".join(f"{k} {_cell(v)}" for k, v in rows[-1].items() if k != "round"))
    write_tables(run)
    return rows

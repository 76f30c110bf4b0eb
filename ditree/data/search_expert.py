"""The search expert: demonstrations planned by our own planners, for any registered robot.

Episode ``i`` of a collection with seed ``s`` is one random problem in a generated training world
(never a suite map, scenario or benchmark instance), solved by a registered planner (``sst`` by
default; ``ditree-star`` where the robot has a policy checkpoint) through :func:`ditree.api.plan`
with an iteration budget (``max_iterations``): the episode's seeds come from
``np.random.SeedSequence(s, spawn_key=(i, redraw))``, so the same ``(s, i)`` gives the same world,
problem and path on any machine and in any worker. A budget in seconds (``budget_s``) may be given
instead or as well; such data are not bit-reproducible (the metadata says so).

An episode is kept only when the planner succeeded AND the path validated: ``ditree.api.plan``
passes every result through :func:`planners.validate.finalize`, which re-simulates the controls,
checks every body at every stored state with PyBullet and the last state in the goal region, and
turns a failed validation into ``success=False`` (``validated`` False, ``reason`` "validation
failed: ..."); so ``result.success and result.validated``. Its states and controls are the
result's rows, one per robot ``dt`` (``(T+1, S)`` and ``(T, C)``).

World sources (``SearchExpertConfig.worlds``): ``"grid"``, the seeded grid worlds of
:mod:`envs.generators` (maze, forest, rooms, serpentine) at the robot's registered map cell size
with a start at rest and a goal disc; ``"box"``, the box worlds of ``envs.box_generators`` at the
robot's scale with full-state goals; ``"auto"`` = grid for robots with a hand-written expert (the
car and the racecar plan on grid maps) and box for the others (dynobench's robots). The kind of
episode ``i`` is drawn from the configured kinds with the episode's seed.

Collection is resumable: every finished problem (kept or not) is written at once to
``<out>.parts/ep_<index>.npz`` next to ``manifest.json`` (the configuration, robot and seed); a
rerun with the same manifest skips finished indices, a different one is refused. The dataset holds
the first ``episodes`` kept indices in index order, so it does not depend on the number of workers,
on kills and resumes, or on which worker finished first.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from envs.errors import DitreeInputError

WORLD_SOURCES = ("auto", "grid", "box")
GRID_KINDS = ("maze", "forest", "rooms", "serpentine")
"""Grid world kinds (:data:`envs.generators.GENERATORS`) used by default."""
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
_RESERVED_PARAMS = ("max_iterations", "return_first", "connect_tol", "polish", "record_tree")


@dataclass(frozen=True)
class SearchExpertConfig:
    """How the search expert makes each episode.

    ``planner``: a registered planner (``ditree.registry``) that takes ``max_iterations``.
    ``iterations``: the budget, the planner's ``max_iterations`` per problem (0: none; then
    ``budget_s`` is required). ``budget_s``: a time limit per problem (s); None = only the
    iteration budget, with ``time_cap_s`` as a safety net (a problem that reaches it is recorded
    as not reproducible). ``return_first``, ``connect_tol``, ``polish``: the planner's fields of
    those names (``connect_tol``/``polish`` act only on full-state goals, see
    :mod:`planners.connector`); ``params``: further planner parameters as ``((name, value), ...)``.
    ``worlds``: ``"auto"``, ``"grid"`` or ``"box"`` (module docstring); ``kinds``: the world kinds
    to draw from (empty: all of the source's). ``grid_rows``/``grid_cols``: grid world size (cells).
    ``min_separation_m``: redraw problems whose start and goal positions lie closer than this (m);
    ``max_redraws``: how often. ``goal_tol``: goal radius (grid) or state tolerance (box); None =
    the robot's registered ``goal_tolerance`` (grid) or the box generator's default.
    """

    planner: str = "sst"
    iterations: int = 600
    budget_s: float | None = None
    time_cap_s: float = 600.0
    return_first: bool = False
    connect_tol: float = 0.0
    polish: bool = True
    params: tuple[tuple[str, Any], ...] = ()
    worlds: str = "auto"
    kinds: tuple[str, ...] = ()
    grid_rows: int = 12
    grid_cols: int = 12
    min_separation_m: float = 0.0
    max_redraws: int = 20
    goal_tol: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(sorted((str(k), v) for k, v in dict(self.params).items())))
        object.__setattr__(self, "kinds", tuple(str(k) for k in self.kinds))
        bad = self.problems()
        if bad:
            raise DitreeInputError(f"bad search expert option(s): {'; '.join(bad)}")

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty: nothing), each naming the field."""
        out = []
        if not (isinstance(self.iterations, int) and self.iterations >= 0):
            out.append(f"iterations must be an integer >= 0, got {self.iterations!r}")
        if self.budget_s is not None and not (isinstance(self.budget_s, (int, float)) and self.budget_s > 0):
            out.append(f"budget_s must be a positive number of seconds, got {self.budget_s!r}")
        if self.iterations == 0 and self.budget_s is None:
            out.append("iterations is 0 and budget_s is unset: give an iteration budget (or budget_s)")
        if not self.time_cap_s > 0:
            out.append(f"time_cap_s must be positive, got {self.time_cap_s!r}")
        if self.worlds not in WORLD_SOURCES:
            out.append(f"worlds must be one of {list(WORLD_SOURCES)}, got {self.worlds!r}")
        for name in ("grid_rows", "grid_cols"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v >= 5):
                out.append(f"{name} must be an integer >= 5, got {v!r}")
        if not self.min_separation_m >= 0:
            out.append(f"min_separation_m must be >= 0, got {self.min_separation_m!r}")
        if not (isinstance(self.max_redraws, int) and self.max_redraws >= 0):
            out.append(f"max_redraws must be an integer >= 0, got {self.max_redraws!r}")
        if self.goal_tol is not None and not self.goal_tol > 0:
            out.append(f"goal_tol must be positive, got {self.goal_tol!r}")
        if not self.connect_tol >= 0:
            out.append(f"connect_tol must be >= 0, got {self.connect_tol!r}")
        reserved = sorted(set(dict(self.params)) & set(_RESERVED_PARAMS))
        if reserved:
            out.append(f"params {reserved} are set by the expert's own fields (iterations, return_first, ...)")
        from ditree.registry import available_planners, planner_entry

        if self.planner not in available_planners():
            out.append(f"planner {self.planner!r} is not registered (known: {', '.join(sorted(available_planners()))})")
        else:
            known = planner_entry(self.planner).param_fields()
            if "max_iterations" not in known:
                out.append(f"planner {self.planner!r} takes no iteration budget (max_iterations)")
            unknown = sorted(set(dict(self.params)) - set(known))
            if unknown:
                out.append(f"planner {self.planner!r} has no parameter(s) {unknown}")
        return out

    @property
    def reproducible(self) -> bool:
        """Whether a seed can reproduce the data exactly: an iteration budget without ``budget_s``.
        (A dataset's ``metadata["reproducible"]`` is also False when a problem reached
        ``time_cap_s`` or ran trajectory optimisation, which IPOPT's CPU-time limits bound.)"""
        return self.budget_s is None

    def planner_params(self) -> dict[str, Any]:
        """Keyword parameters for ``ditree.api.plan`` (besides the time limit and seed)."""
        from ditree.registry import planner_entry

        known = planner_entry(self.planner).param_fields()
        p: dict[str, Any] = {"max_iterations": int(self.iterations), **dict(self.params)}
        for name in ("return_first", "connect_tol", "polish", "record_tree"):
            if name in known:
                p[name] = False if name == "record_tree" else getattr(self, name)
        return p

    def time_limit(self) -> float:
        """Seconds offered per problem: ``budget_s``, else ``time_cap_s``."""
        return float(self.budget_s) if self.budget_s is not None else float(self.time_cap_s)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self, pairs=("params",), tuples=("kinds",))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchExpertConfig:
        return config_from_dict(cls, d, "search expert config", pairs=("params",), tuples=("kinds",))


def config_to_dict(cfg: Any, pairs: tuple[str, ...], tuples: tuple[str, ...]) -> dict[str, Any]:
    """A frozen config dataclass as JSON-ready data: its ``((name, value), ...)`` fields ``pairs`` as
    dicts, its tuple fields ``tuples`` as lists."""
    d = asdict(cfg)
    d.update({name: dict(getattr(cfg, name)) for name in pairs})
    d.update({name: list(getattr(cfg, name)) for name in tuples})
    return d


def config_from_dict(cls: type, d: dict[str, Any], what: str, pairs: tuple[str, ...], tuples: tuple[str, ...]):
    """The inverse of :func:`config_to_dict`; an unknown field is a :class:`DitreeInputError` naming ``what``."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise DitreeInputError(f"{what}: unknown field(s) {unknown}; known: {sorted(names)}")
    kw = dict(d)
    kw.update({name: tuple(dict(kw[name]).items()) for name in pairs if name in kw})
    kw.update({name: tuple(kw[name]) for name in tuples if name in kw})
    return cls(**kw)


def check_planner_for(cfg: SearchExpertConfig, robot_name: str) -> None:
    """Raise :class:`DitreeInputError` when ``cfg.planner`` needs a policy checkpoint that the robot
    ``robot_name`` does not ship and ``cfg.params`` does not name."""
    from ditree.registry import planner_entry
    from envs.registry import robot_spec

    needs = "checkpoint" in planner_entry(cfg.planner).param_fields()
    if needs and dict(cfg.params).get("checkpoint") is None and robot_spec(robot_name).checkpoint is None:
        raise DitreeInputError(f"planner {cfg.planner!r} needs a policy checkpoint and robot {robot_name!r} ships "
                               "none: pass params checkpoint=PATH (--param checkpoint=PATH) or use planner 'sst'")


# ---------------------------------------------------------------------------------- world sources
def default_world_source(robot_name: str) -> str:
    """``"grid"`` for robots with a hand-written expert (the car, the racecar), else ``"box"``."""
    from envs.registry import robot_spec

    return "grid" if robot_spec(robot_name).expert else "box"


def grid_problem(kind: str, seed: int, robot: Any, *, rows: int = 12, cols: int = 12,
                 goal_tol: float | None = None):
    """A problem in the grid world ``kind`` (:func:`envs.generators.generate`, default shape
    parameters) at the robot's registered map cell size: a start at rest and a goal disc of radius
    ``goal_tol`` (default the robot's ``goal_tolerance``) far apart (:func:`envs.generators.random_start_goal`).
    ``meta["generator"]`` records how to make it again."""
    from envs.generators import generate, random_start_goal
    from envs.problem import Problem
    from envs.registry import robot_spec

    spec = robot_spec(robot.name)
    world = generate(kind, rows, cols, seed, cell_size=float(spec.map_cell_size))
    start, deg, goal = random_start_goal(world, seed, robot=robot)
    radius = float(goal_tol) if goal_tol is not None else float(spec.goal_tolerance)
    p = Problem.from_cells(world, start, deg, goal, robot=robot, goal_radius=radius, name=world.name)
    p.meta["generator"] = {"source": "grid", "kind": kind, "seed": int(seed), "rows": int(rows), "cols": int(cols)}
    return p


def _box_module():
    try:
        import envs.box_generators as bg
    except ImportError as e:
        raise DitreeInputError(f"box training worlds need envs.box_generators, which is missing ({e})") from None
    return bg


def source_kinds(source: str) -> tuple[str, ...]:
    """Every kind a world source knows."""
    if source == "grid":
        return GRID_KINDS
    return tuple(_box_module().BOX_KINDS)


ProblemFactory = Callable[[int, int], Any]
"""``(episode index, seed) -> Problem``: where a collection's problems come from."""


def problem_factory(cfg: SearchExpertConfig, robot: Any, seed: int) -> ProblemFactory:
    """The configured world source as a ``(index, seed) -> Problem`` callable: episode ``index``'s
    problem (its kind, world and start/goal from ``SeedSequence(seed, spawn_key=(index, redraw))``,
    redrawn while start and goal lie closer than ``min_separation_m``)."""
    source = cfg.worlds if cfg.worlds != "auto" else default_world_source(robot.name)
    kinds = cfg.kinds or source_kinds(source)
    bad = sorted(set(kinds) - set(source_kinds(source)))
    if bad:
        raise DitreeInputError(f"unknown {source} world kind(s) {bad}; known: {list(source_kinds(source))}")

    def make(kind: str, wseed: int):
        if source == "grid":
            return grid_problem(kind, wseed, robot, rows=cfg.grid_rows, cols=cfg.grid_cols, goal_tol=cfg.goal_tol)
        p = _box_module().box_problem(kind, wseed, robot, goal_tol=cfg.goal_tol)
        p.meta.setdefault("generator", {"kind": kind, "seed": int(wseed)})
        p.meta["generator"] = {"source": "box", **p.meta["generator"]}
        return p

    def factory(index: int, seed_: int = seed):
        for redraw in range(cfg.max_redraws + 1):
            words = np.random.SeedSequence(int(seed_), spawn_key=(int(index), redraw)).generate_state(3)
            kind = kinds[int(words[0]) % len(kinds)]
            p = make(kind, int(words[1]))
            p.meta["planner_seed"] = int(words[2])
            p.meta["redraws"] = redraw
            if np.linalg.norm(np.asarray(p.start[:2]) - np.asarray(p.goal[:2])) >= cfg.min_separation_m:
                return p
        raise DitreeInputError(f"episode {index}: no problem with start and goal {cfg.min_separation_m} m apart "
                               f"after {cfg.max_redraws} redraws (lower min_separation_m)")

    return factory


# ------------------------------------------------------------------------------------- one episode
@dataclass
class EpisodeRecord:
    """One finished problem: ``kept`` with its path, or not with the reason."""

    index: int
    kept: bool
    meta: dict
    states: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    controls: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    goal_xy: np.ndarray = field(default_factory=lambda: np.zeros(2))
    goal_state: np.ndarray | None = None
    world: Any = None

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file renamed into place): a file is whole or absent."""
        arrays: dict[str, np.ndarray] = {"kept": np.array(self.kept), "meta": np.array(json.dumps(self.meta))}
        if self.kept:
            from ditree.data.world_json import world_to_json

            arrays.update(states=self.states, controls=self.controls, goal_xy=self.goal_xy,
                          world=np.array(json.dumps(world_to_json(self.world))))
            if self.goal_state is not None:
                arrays["goal_state"] = self.goal_state
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, index: int) -> EpisodeRecord:
        try:
            with np.load(path, allow_pickle=False) as z:
                kept = bool(z["kept"])
                meta = json.loads(str(z["meta"]))
                if not kept:
                    return cls(index, False, meta)
                from ditree.data.world_json import world_from_json

                world = world_from_json(json.loads(str(z["world"])))
                return cls(index, True, meta, z["states"], z["controls"], z["goal_xy"],
                           z["goal_state"] if "goal_state" in z.files else None, world)
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise DitreeInputError(f"{path}: unreadable episode part ({type(e).__name__}: {e}); delete it to redo "
                                   "that episode") from None


def solve_episode(index: int, cfg: SearchExpertConfig, robot: Any, factory: ProblemFactory) -> EpisodeRecord:
    """Plan episode ``index`` (its problem from ``factory``) with the configured planner and budget."""
    from ditree.api import plan
    from envs.goal import StateGoal

    problem = factory(index)
    gen = dict(problem.meta.get("generator", {}))
    region = problem.goal_region
    state_goal = isinstance(region, StateGoal)
    t0 = time.process_time()
    result = plan(problem, planner=cfg.planner, time_limit=cfg.time_limit(), seed=int(problem.meta["planner_seed"]),
                  **cfg.planner_params())
    cpu_s = time.process_time() - t0
    kept = bool(result.success and result.validated)
    lb = result.lower_bound_s
    meta = {
        "index": int(index),
        "planner": cfg.planner,
        "iterations": int(result.iterations),
        "plan_time_s": round(float(result.time_s), 4),
        "cpu_s": round(cpu_s, 4),
        "world_source": gen.get("source"),
        "world_kind": gen.get("kind"),
        "world_seed": gen.get("seed"),
        "world_name": getattr(problem.world, "name", None),
        "planner_seed": int(problem.meta["planner_seed"]),
        "redraws": int(problem.meta.get("redraws", 0)),
        "kept": kept,
        "reason": "" if kept else (result.reason or "no path"),
        "time_capped": bool(cfg.budget_s is None and result.time_s >= cfg.time_cap_s),
    }
    if kept:
        first = result.extra.get("first_duration_s")
        meta.update(
            duration_s=round(result.path_duration_s, 6),
            first_duration_s=None if first is None else round(float(first), 6),
            lower_bound_s=None if lb is None else round(float(lb), 6),
            duration_ratio=None if not lb else round(result.path_duration_s / lb, 6),
            connected=int(result.counters.get("connected", 0)),
        )
    # trajectory optimisation (goal connector, polish) runs under IPOPT CPU-time limits
    meta["trajopt_solves"] = int(result.counters.get("connect_attempts", 0))
    rec = EpisodeRecord(index, kept, meta)
    if kept:
        rec.states = np.asarray(result.states, dtype=float)
        rec.controls = np.asarray(result.controls, dtype=float)
        rec.goal_xy = np.asarray(problem.goal, dtype=float)[:2].copy()
        rec.goal_state = np.asarray(region.state, dtype=float) if state_goal else None
        rec.world = problem.world
    return rec


# ------------------------------------------------------------------------------------ resumable parts
def parts_dir(out: str | Path) -> Path:
    """Where the episodes of a collection into ``out`` are kept while it runs: ``<out>.parts``."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def _manifest(cfg: SearchExpertConfig, robot: Any, seed: int) -> dict:
    return {"manifest_version": MANIFEST_VERSION, "robot": robot.name, "robot_params": robot.params.to_dict(),
            "seed": int(seed), "expert": cfg.to_dict()}


def open_parts(directory: Path, manifest: dict) -> dict[int, Path]:
    """Create ``directory`` with ``manifest``, or check an existing one against it. Returns the
    finished episodes ``{index: file}``. A different manifest is a :class:`DitreeInputError` naming
    the fields that differ."""
    directory.mkdir(parents=True, exist_ok=True)
    mpath = directory / MANIFEST
    want = json.loads(json.dumps(manifest))
    if mpath.is_file():
        try:
            have = json.loads(mpath.read_text())
        except json.JSONDecodeError as e:
            raise DitreeInputError(f"{mpath}: not valid JSON ({e})") from None
        if have != want:
            diff = _diff_keys(have, want)
            raise DitreeInputError(f"{directory} holds episodes of another collection (differs in {', '.join(diff)}); "
                                   "use another --out or delete that folder")
    else:
        tmp = mpath.with_name(MANIFEST + ".tmp")
        tmp.write_text(json.dumps(want, indent=1, sort_keys=True))
        os.replace(tmp, mpath)
    for f in directory.glob("ep_*.npz.tmp*"):  # an episode being written when a run was killed
        f.unlink(missing_ok=True)
    done = {}
    for f in directory.glob("ep_*.npz"):
        try:
            done[int(f.stem[3:])] = f
        except ValueError:
            continue
    return done


def _diff_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]} ({a!r} there, {b!r} now)"]


def _episode_path(directory: Path, index: int) -> Path:
    return directory / f"ep_{index:06d}.npz"


# worker-process state (set once per forked worker by _init_worker)
_W: dict[str, Any] = {}


def _init_worker(cfg_dict: dict, robot_name: str, robot_params: dict, seed: int, directory: str) -> None:
    from envs.registry import robot_spec

    cfg = SearchExpertConfig.from_dict(cfg_dict)
    robot = robot_spec(robot_name).make(robot_params)
    _W.update(cfg=cfg, robot=robot, factory=problem_factory(cfg, robot, seed), dir=Path(directory))


def _work(index: int) -> tuple[int, bool, dict]:
    try:
        rec = solve_episode(index, _W["cfg"], _W["robot"], _W["factory"])
    except Exception as e:  # noqa: BLE001 - reported to the parent, which stops the collection
        import traceback

        return index, False, {"error": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"}
    rec.save(_episode_path(_W["dir"], index))
    return index, rec.kept, rec.meta


class _Progress:
    """Which indices are finished and kept; whether the first ``episodes`` kept ones are known."""

    def __init__(self, episodes: int, finished: dict[int, bool]) -> None:
        self.episodes = episodes
        self.kept = dict(finished)

    def add(self, index: int, kept: bool) -> None:
        self.kept[index] = kept

    def prefix(self) -> list[int] | None:
        """The first ``episodes`` kept indices when every index before the last of them is finished."""
        out, i = [], 0
        while len(out) < self.episodes:
            if i not in self.kept:
                return None
            if self.kept[i]:
                out.append(i)
            i += 1
        return out

    def n_kept(self) -> int:
        return sum(self.kept.values())


def collect_search(robot_name: str, episodes: int, out: str | Path, seed: int = 0, workers: int = 2,
                   cfg: SearchExpertConfig | None = None, robot_params: dict | None = None, progress: bool = True,
                   max_new: int | None = None):
    """Collect ``episodes`` kept search demonstrations of robot ``robot_name`` into ``out`` (.npz)
    and return the :class:`~ditree.data.dataset.ExpertDataset` (also written to ``out``).

    Finished problems go to :func:`parts_dir` as they finish (see the module docstring); a rerun
    with the same ``cfg``, robot parameters and ``seed`` continues from them. ``workers`` processes
    (``fork``) plan episodes in index order, ``workers`` at a time. ``max_new``: stop after this
    many newly planned problems and return None without writing ``out`` (a partial run, as if
    killed: tests of the resume use it). Raises :class:`DitreeInputError` for bad options.
    """
    from tqdm import tqdm

    from envs.registry import robot_spec

    cfg = cfg or SearchExpertConfig()
    if not (isinstance(episodes, int) and episodes >= 1):
        raise DitreeInputError(f"episodes must be an integer >= 1, got {episodes!r}")
    if not (isinstance(workers, int) and workers >= 1):
        raise DitreeInputError(f"workers must be an integer >= 1, got {workers!r}")
    robot = robot_spec(robot_name).make(robot_params)
    problem_factory(cfg, robot, seed)  # bad kinds / missing world source fail here, before any work
    check_planner_for(cfg, robot.name)
    t0 = time.perf_counter()
    directory = parts_dir(out)
    done = open_parts(directory, _manifest(cfg, robot, seed))
    state = _Progress(episodes, {})
    for i, f in done.items():
        state.add(i, EpisodeRecord.load(f, i).kept)
    bar = tqdm(total=episodes, desc=f"search expert ({cfg.planner}, {robot.name})", unit="ep", disable=not progress)
    bar.update(min(episodes, state.n_kept()))
    new = 0
    args = (cfg.to_dict(), robot.name, robot.params.to_dict(), int(seed), str(directory))

    def todo():
        i = 0
        while True:
            if i not in state.kept:
                yield i
            i += 1

    def on_result(index: int, kept: bool, meta: dict) -> None:
        nonlocal new
        if "error" in meta:
            raise RuntimeError(f"search expert episode {index} failed: {meta['error']}")
        before = state.n_kept()
        state.add(index, kept)
        new += 1
        bar.update(min(episodes, state.n_kept()) - min(episodes, before))
        bar.set_postfix(planned=len(state.kept), kept=state.n_kept())

    def more() -> bool:
        # not just "fewer kept than asked": an episode in flight when an earlier run was killed leaves a
        # gap that must be planned before the first ``episodes`` kept ones are known
        return state.prefix() is None and (max_new is None or new < max_new)

    try:
        if workers == 1:
            _init_worker(*args)
            queue = todo()
            while more():
                on_result(*_work(next(queue)))
        else:
            _run_pool(workers, args, todo(), on_result, more, lambda: state.prefix() is not None)
    finally:
        bar.close()
    pick = state.prefix()
    if pick is None:
        return None
    ds = _assemble(robot, cfg, seed, workers, directory, pick, state, t0)
    ds.save(out)
    return ds


def _run_pool(workers: int, init_args: tuple, queue, on_result, more, finished) -> None:
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=init_args) as pool:
        pending: dict[int, Any] = {}
        while True:
            while len(pending) < workers and more():
                i = next(queue)
                pending[i] = pool.apply_async(_work, (i,))
            if not pending:
                break
            ready = [i for i, r in pending.items() if r.ready()]
            if not ready:
                time.sleep(0.02)
                continue
            for i in sorted(ready):
                on_result(*pending.pop(i).get())
            if finished():
                break
        pool.terminate()


def _assemble(robot: Any, cfg: SearchExpertConfig, seed: int, workers: int, directory: Path, pick: list[int],
              state: _Progress, t0: float):
    """The dataset of the kept episodes ``pick`` (read back from their parts)."""
    import ditree
    from ditree.data.dataset import Episode, ExpertDataset

    records = [EpisodeRecord.load(_episode_path(directory, i), i) for i in pick]
    attempted = [i for i in range(pick[-1] + 1)]  # every index up to the last kept one was planned
    failed = [EpisodeRecord.load(_episode_path(directory, i), i).meta for i in attempted if not state.kept[i]]
    worlds, world_ids, episodes = [], {}, []
    for r in records:
        key = r.world.content_hash()
        if key not in world_ids:
            world_ids[key] = len(worlds)
            worlds.append(r.world)
        episodes.append(Episode(states=r.states, controls=r.controls, world_index=world_ids[key], goal_xy=r.goal_xy,
                                goal_state=r.goal_state))
    ep_meta = [{k: v for k, v in r.meta.items() if k not in ("plan_time_s", "cpu_s")} for r in records]
    ratios = [m["duration_ratio"] for m in ep_meta if m.get("duration_ratio")]
    source = cfg.worlds if cfg.worlds != "auto" else default_world_source(robot.name)
    fp = robot.footprint
    reasons: dict[str, int] = {}
    for m in failed:
        key = m["reason"].split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    metadata = {
        "robot": robot.name,
        "robot_params": robot.params.to_dict(),
        "footprint": {"length": fp.length, "width": fp.width},
        "map_name": f"generated {source} worlds",
        "dt": robot.dt,
        "counts": {
            "episodes": len(records),
            "pairs": int(sum(len(r.controls) for r in records)),
            "attempted": len(attempted),
            "solved": len(records),
            "success_rate": len(records) / len(attempted),
            "rejected": reasons,
            "worlds": len(worlds),
        },
        "validator": ["planners.validate (re-simulation, PyBullet at every state, goal region)"],
        "seed": int(seed),
        "expert": {"kind": "search", **cfg.to_dict()},
        "reproducible": cfg.reproducible and not any(m.get("time_capped") or m.get("trajopt_solves") for m in ep_meta),
        "training_worlds": f"generated only ({source} worlds of the package's seeded generators; no suite map, "
                           "scenario or benchmark instance)",
        "world_source": source,
        "median_duration_ratio": float(np.median(ratios)) if ratios else None,
        "episodes_meta": ep_meta,
        "ditree_version": ditree.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "collect_time_s": {  # volatile (excluded from the content hash): wall and per-episode times
            "wall_s": round(time.perf_counter() - t0, 3),
            "workers": int(workers),
            "plan_time_s": [r.meta["plan_time_s"] for r in records],
            "cpu_s": [r.meta["cpu_s"] for r in records],
            "failed_cpu_s": round(sum(m.get("cpu_s", 0.0) for m in failed), 3),
        },
    }
    return ExpertDataset.from_episodes(robot.name, episodes, worlds, metadata)

"""What an evaluation runs: its configuration, the list of runs, their seeds and resume keys.

Seeds. Run ``(scenario, planner, trial)`` of an evaluation with base seed ``S`` gets::

    seed = int.from_bytes(sha256(f"{S}/{scenario}/{planner}/{trial}".encode()).digest()[:4], "big") & 0x7FFFFFFF

so seeds are reproducible across machines, Python versions and worker counts, independent of the
order runs finish in, and unchanged when scenarios or planners are added to an evaluation.

Resume key: ``(scenario, planner, trial, seed, time_limit)`` for the car (the default robot, so
files written before robots were recorded still resume), with the robot name appended for any other
robot: a car run and a racecar run of the same scenario in one output folder are different runs.
A run whose key is already in ``runs.jsonl`` is not run again.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from envs.errors import DitreeInputError
from envs.problem import DEFAULT_SUITE, Problem, Scenario, load_scenarios, problem_from_scenario
from envs.registry import make_robot, robot_spec

BACKENDS = ("local", "ray")


def derive_seed(base_seed: int, scenario: str, planner: str, trial: int) -> int:
    """The seed of one run, in [0, 2**31): see the module docstring."""
    digest = hashlib.sha256(f"{int(base_seed)}/{scenario}/{planner}/{int(trial)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (scenario names contain spaces)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation: every scenario x planner x trial, each run under ``time_limit`` seconds.

    Scenarios: a benchmark ``suite`` of the data directory (``envs.suites``; ``split`` picks its
    scenario file, default the suite's first, ``data_dir`` overrides the data directory), or your own
    ``scenarios_csv`` with maps in ``maps_dir`` (default: the csv's sibling ``maps/``). With neither,
    the suite ``ditree_car`` (split ``test``): defaults reproduce the paper's protocol
    (docs/policy.md, 'Evaluation protocol': 20 trials, 120 s) on its 15 test scenarios. A suite's
    files are resolved to paths here, but outputs name the suite (:meth:`describe_scenarios`), not
    those paths.
    ``workers`` = 0 means one per CPU core. ``backend`` is ``"local"`` (a pool of processes, one
    fresh process per run) or ``"ray"`` (a Ray cluster at ``address``; ``None`` starts a local one).
    ``robot``: a registered robot (``envs.registry``: "car", "racecar" or one a user module
    registered); maps are loaded at that robot's ``map_cell_size`` (2 m per cell for the racecar).
    """

    scenarios_csv: Path | None
    out: Path
    planners: tuple[str, ...] = ("ditree", "sst", "rrt", "dp")
    maps_dir: Path | None = None
    trials: int = 20
    time_limit: float = 120.0
    workers: int = 0
    seed: int = 0
    save_results: bool = True
    backend: str = "local"
    address: str | None = None
    progress: bool = True
    planner_params: dict[str, dict] = field(default_factory=dict)
    robot: str = "car"
    suite: str | None = None
    split: str | None = None
    data_dir: Path | None = None

    def __post_init__(self) -> None:
        from envs.suites import get_suite, suite_maps_dir, suite_scenarios

        robot_spec(self.robot)  # an unregistered name: one line listing the registered robots
        if self.scenarios_csv is not None:
            if self.suite is not None or self.split is not None:
                raise DitreeInputError("give either a suite (--suite/--split) or a scenario file (--scenarios), not both")
            object.__setattr__(self, "scenarios_csv", Path(self.scenarios_csv))
            maps = self.scenarios_csv.parent / "maps" if self.maps_dir is None else self.maps_dir
            object.__setattr__(self, "maps_dir", Path(maps))
        else:
            if self.maps_dir is not None:
                raise DitreeInputError("--maps goes with --scenarios (a suite has its own maps)")
            suite = self.suite or DEFAULT_SUITE
            split = self.split or get_suite(suite).default_split
            object.__setattr__(self, "suite", suite)
            object.__setattr__(self, "split", split)
            object.__setattr__(self, "scenarios_csv", suite_scenarios(suite, split, self.data_dir))
            object.__setattr__(self, "maps_dir", suite_maps_dir(suite, self.data_dir))
        object.__setattr__(self, "out", Path(self.out))
        planners = tuple(p.strip() for p in self.planners if p.strip())
        object.__setattr__(self, "planners", planners)
        if not planners:
            raise DitreeInputError("--planners: no planner given")
        dup = sorted({p for p in planners if planners.count(p) > 1})
        if dup:
            raise DitreeInputError(f"--planners: planner(s) {dup} listed twice")
        if int(self.trials) != self.trials or self.trials < 1:
            raise DitreeInputError(f"--trials must be an integer >= 1, got {self.trials}")
        if not self.time_limit > 0:
            raise DitreeInputError(f"--time-limit must be positive (seconds), got {self.time_limit}")
        if int(self.workers) != self.workers or self.workers < 0:
            raise DitreeInputError(f"--workers must be an integer >= 0 (0 = one per CPU), got {self.workers}")
        if self.backend not in BACKENDS:
            raise DitreeInputError(f"--backend must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.address is not None and self.backend != "ray":
            raise DitreeInputError("--address only applies to --backend ray")
        if not self.maps_dir.is_dir():
            raise DitreeInputError(f"--maps: map folder not found: {self.maps_dir}")
        unknown = sorted(set(self.planner_params) - set(planners))
        if unknown:
            raise DitreeInputError(f"planner_params given for planner(s) {unknown} not in --planners {list(planners)}")

    @property
    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def describe_scenarios(self) -> str:
        """Where the scenarios come from, for reports: the suite and split, or the scenario file."""
        if self.suite is not None:
            return f"suite {self.suite} ({self.split})"
        return f"scenarios {self.scenarios_csv}, maps {self.maps_dir}"


@dataclass(frozen=True)
class RunSpec:
    """One run: a scenario's problem, a planner, a trial index and its seed."""

    scenario: str
    map: str
    planner: str
    trial: int
    seed: int
    time_limit: float
    problem: Problem = field(repr=False, compare=False)
    params: dict = field(default_factory=dict, compare=False)
    robot: str = "car"

    @property
    def key(self) -> tuple:
        return run_key(self.scenario, self.planner, self.trial, self.seed, self.time_limit, self.robot)

    @property
    def result_name(self) -> str:
        """File name of the run's PlanResult JSON under ``results/``."""
        robot = "" if self.robot == "car" else f"__{slug(self.robot)}"
        return f"{slug(self.scenario)}__{slug(self.planner)}__t{self.trial:03d}__s{self.seed}__T{self.time_limit:g}{robot}.json"


def run_key(scenario: str, planner: str, trial: int, seed: int, time_limit: float, robot: str = "car") -> tuple:
    """The resume key of a run (also computed from a ``runs.jsonl`` record). The car's key has no
    robot entry, as before robots were recorded; any other robot's name is appended."""
    key = (str(scenario), str(planner), int(trial), int(seed), round(float(time_limit), 6))
    return key if robot == "car" else (*key, str(robot))


def _where(cfg: EvalConfig) -> str:
    return str(cfg.scenarios_csv) if cfg.suite is None else f"suite {cfg.suite} ({cfg.split})"


def load_eval_scenarios(cfg: EvalConfig) -> list[tuple[Scenario, Problem]]:
    """Every scenario of the file with its problem (maps loaded and start/goal validated now,
    so that a missing map or a bad cell fails before any worker starts)."""
    scenarios = load_scenarios(cfg.scenarios_csv)
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DitreeInputError(f"{_where(cfg)}: scenario name(s) {dup} appear more than once")
    out = []
    robot = make_robot(cfg.robot)  # one instance shared by the problems (pickled to each worker)
    for s in scenarios:
        map_file = cfg.maps_dir / f"{s.map_name}.csv"
        if not map_file.is_file():
            raise DitreeInputError(f"{_where(cfg)}: scenario {s.name!r} needs map {map_file}, which does not exist")
        p = problem_from_scenario(s, cfg.maps_dir, robot=robot)
        if cfg.suite is not None:
            p.meta["suite"] = cfg.suite
        out.append((s, p))
    return out


def build_runs(cfg: EvalConfig, scenarios: list[tuple[Scenario, Problem]]) -> list[RunSpec]:
    """All runs, ordered trial-major (every scenario and planner gets its first trial before any
    gets its second), so that a partial evaluation covers the whole table evenly."""
    runs = []
    for trial in range(int(cfg.trials)):
        for s, problem in scenarios:
            for planner in cfg.planners:
                runs.append(
                    RunSpec(
                        scenario=s.name,
                        map=s.map_name,
                        planner=planner,
                        trial=trial,
                        seed=derive_seed(cfg.seed, s.name, planner, trial),
                        time_limit=float(cfg.time_limit),
                        problem=problem,
                        params=dict(cfg.planner_params.get(planner, {})),
                        robot=cfg.robot,
                    )
                )
    return runs

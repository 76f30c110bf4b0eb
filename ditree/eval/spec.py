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
from envs.problem import MAPS_DIR, Problem, Scenario, load_scenarios, problem_from_scenario
from envs.robot import ROBOTS, make_robot

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

    Defaults reproduce the paper's protocol (docs/policy.md, 'Evaluation protocol': 20 trials,
    120 s) on its 15 test scenarios.
    ``workers`` = 0 means one per CPU core. ``backend`` is ``"local"`` (a pool of processes, one
    fresh process per run) or ``"ray"`` (a Ray cluster at ``address``; ``None`` starts a local one).
    ``robot``: a name of :func:`envs.robot.make_robot` ("car" or "racecar"); maps are loaded at that
    robot's ``map_cell_size`` (2 m per cell for the racecar).
    """

    scenarios_csv: Path
    out: Path
    planners: tuple[str, ...] = ("ditree", "sst", "rrt", "dp")
    maps_dir: Path = MAPS_DIR
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

    def __post_init__(self) -> None:
        if self.robot not in ROBOTS:
            raise DitreeInputError(f"--robot must be one of {list(ROBOTS)}, got {self.robot!r}")
        object.__setattr__(self, "scenarios_csv", Path(self.scenarios_csv))
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "maps_dir", Path(self.maps_dir))
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


def load_eval_scenarios(cfg: EvalConfig) -> list[tuple[Scenario, Problem]]:
    """Every scenario of the file with its problem (maps loaded and start/goal validated now,
    so that a missing map or a bad cell fails before any worker starts)."""
    scenarios = load_scenarios(cfg.scenarios_csv)
    names = [s.name for s in scenarios]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DitreeInputError(f"{cfg.scenarios_csv}: scenario name(s) {dup} appear more than once")
    out = []
    robot = make_robot(cfg.robot)  # one instance shared by the problems (pickled to each worker)
    for s in scenarios:
        map_file = cfg.maps_dir / f"{s.map_name}.csv"
        if not map_file.is_file():
            raise DitreeInputError(f"{cfg.scenarios_csv}: scenario {s.name!r} needs map {map_file}, which does not exist")
        out.append((s, problem_from_scenario(s, cfg.maps_dir, robot=robot)))
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

"""OMPL benchmark output: the log files of ``ompl::tools::Benchmark`` and the SQLite database that
``ompl_benchmark_statistics.py`` builds from them, which Planner Arena (plannerarena.org) reads.

One experiment per scenario (named like the scenario, spaces replaced by ``_``: the log format
reads the name as one token); one planner configuration per planner, named ``control_<planner>``
(OMPL names kinodynamic planners ``control_RRT``, ``control_KPIECE1``, ...; Planner Arena strips
the prefix). Tables, as created by OMPL 2.0.1's ``ompl_benchmark_statistics.py``::

    experiments(id, name, totaltime, timelimit, memorylimit, runcount, version, hostname, cpuinfo,
                date, seed, setup, + experiment properties: map)
    plannerConfigs(id, name, settings)
    enums(name, value, description)            the "status" enum (OMPL's PlannerStatus)
    runs(id, experimentid, plannerid, + one column per run property, below)
    progress(runid, time)                      empty: none of our planners reports progress
    views bestPlannerConfigsPerExperiment, bestPlannerConfigs

Run properties (OMPL's names where one exists; spaces become underscores in the database):
``solved``, ``time`` (s), ``memory`` (MB, peak of the worker process), ``approximate solution``
(always 0: our planners return exact solutions or none), ``correct solution`` (validated),
``solution length`` (m, xy), ``solution duration`` (s), ``duration ratio``, ``graph states``
(tree nodes), ``iterations``, ``policy calls``, ``seed``, ``status`` (enum).

:func:`write_benchmark_logs` writes the text logs (``ompl_benchmark_statistics.py`` parses them
into the same database); :func:`write_benchmark_db` writes the database directly with sqlite3.
"""

from __future__ import annotations

import datetime as _dt
import platform
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ditree
from ditree.eval.spec import slug

STATUS_ENUM = (
    "Unknown status", "Invalid start", "Invalid goal", "Unrecognized goal type", "Timeout",
    "Approximate solution", "Exact solution", "Crash", "Abort", "Infeasible",
)
"""OMPL's ``ompl::base::PlannerStatus`` values, in order (value = index)."""
_STATUS_VALUE = {"exact": 6, "timeout": 4, "failed": 0, "crash": 7}

RUN_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("solved", "BOOLEAN"),
    ("time", "REAL"),
    ("memory", "REAL"),
    ("approximate solution", "BOOLEAN"),
    ("correct solution", "BOOLEAN"),
    ("solution length", "REAL"),
    ("solution duration", "REAL"),
    ("duration ratio", "REAL"),
    ("graph states", "INTEGER"),
    ("iterations", "INTEGER"),
    ("policy calls", "INTEGER"),
    ("seed", "INTEGER"),
    ("status", "ENUM"),
)

SCHEMA = """CREATE TABLE IF NOT EXISTS experiments
    (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(512),
    totaltime REAL, timelimit REAL, memorylimit REAL, runcount INTEGER,
    version VARCHAR(128), hostname VARCHAR(1024), cpuinfo TEXT,
    date DATETIME, seed VARCHAR(24), setup TEXT);
    CREATE TABLE IF NOT EXISTS plannerConfigs
    (id INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(512) NOT NULL, settings TEXT);
    CREATE TABLE IF NOT EXISTS enums
    (name VARCHAR(512), value INTEGER, description TEXT,
    PRIMARY KEY (name, value));
    CREATE TABLE IF NOT EXISTS runs
    (id INTEGER PRIMARY KEY AUTOINCREMENT, experimentid INTEGER, plannerid INTEGER,
    FOREIGN KEY (experimentid) REFERENCES experiments(id) ON DELETE CASCADE,
    FOREIGN KEY (plannerid) REFERENCES plannerConfigs(id) ON DELETE CASCADE);
    CREATE TABLE IF NOT EXISTS progress
    (runid INTEGER, time REAL, PRIMARY KEY (runid, time),
    FOREIGN KEY (runid) REFERENCES runs(id) ON DELETE CASCADE)"""

_RUNS_SELECT = """SELECT plannerid, plannerConfigs.name AS plannerName, experimentid,
    solved, time AS total_time
    FROM plannerConfigs INNER JOIN experiments INNER JOIN runs
    ON plannerConfigs.id=runs.plannerid AND experiments.id=runs.experimentid"""
VIEWS = {
    "bestPlannerConfigsPerExperiment": f"""SELECT plannerid, experimentid, MIN(avg_solved) AS avg_solved, avg_total_time
        FROM (SELECT plannerid, plannerName, experimentid, AVG(solved) AS avg_solved,
        AVG(total_time) AS avg_total_time FROM ({_RUNS_SELECT}) GROUP BY plannerid, experimentid)
        GROUP BY plannerName, experimentid ORDER BY avg_solved DESC, avg_total_time ASC""",
    "bestPlannerConfigs": f"""SELECT plannerid, MIN(avg_solved) AS avg_solved, avg_total_time
        FROM (SELECT plannerid, plannerName, AVG(solved) AS avg_solved,
        AVG(total_time) AS avg_total_time FROM ({_RUNS_SELECT}) GROUP BY plannerid)
        GROUP BY plannerName ORDER BY avg_solved DESC, avg_total_time ASC""",
}


@dataclass
class PlannerBlock:
    name: str  # control_<planner>
    settings: list[str]  # "key = value" lines
    runs: list[list[Any]]  # one value per RUN_PROPERTIES entry, None for missing


@dataclass
class Experiment:
    name: str
    map: str
    setup: str
    timelimit: float
    runcount: int
    seed: str
    totaltime: float
    planners: list[PlannerBlock] = field(default_factory=list)


def _run_values(r: dict[str, Any]) -> list[Any]:
    return [
        int(r["success"]), float(r["time_s"]), r.get("memory_mb"), 0, int(r["validated"]),
        r["path_length_m"], r["path_duration_s"], r.get("duration_ratio"), int(r["nodes"]),
        int(r["iterations"]), int(r["policy_calls"]), int(r["seed"]), _STATUS_VALUE.get(r.get("status", ""), 0),
    ]


def build_experiments(records: list[dict[str, Any]], scenarios: list[str], planners: list[str], *,
                      time_limit: float, trials: int, seed: int, setups: dict[str, str] | None = None,
                      planner_params: dict[str, dict] | None = None) -> list[Experiment]:
    """Group run records into one :class:`Experiment` per scenario (runs ordered by trial)."""
    setups = setups or {}
    planner_params = planner_params or {}
    exps = []
    for s in scenarios:
        recs = [r for r in records if r["scenario"] == s]
        if not recs:
            continue
        exp = Experiment(
            # OMPL's log format reads the name as one token
            name=s.replace(" ", "_"), map=recs[0]["map"], setup=setups.get(s, f"scenario {s} on map {recs[0]['map']}"),
            timelimit=float(time_limit), runcount=int(trials), seed=str(seed),
            totaltime=float(sum(r["time_s"] for r in recs)),
        )
        for p in planners:
            prs = sorted((r for r in recs if r["planner"] == p), key=lambda r: r["trial"])
            if not prs:
                continue
            settings = [f"{k} = {v}" for k, v in sorted({"time_limit": time_limit, **planner_params.get(p, {})}.items())]
            exp.planners.append(PlannerBlock(f"control_{p}", settings, [_run_values(r) for r in prs]))
        exps.append(exp)
    return exps


def _cpuinfo() -> str:
    return f"{platform.machine()} {platform.processor() or ''} {platform.system()} {platform.release()}".strip()


def _fmt_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_benchmark_logs(experiments: list[Experiment], folder: Path, date: str | None = None) -> list[Path]:
    """One OMPL benchmark log per experiment (``<folder>/<scenario>.log``), in the text format that
    ``ompl::tools::Benchmark::saveResultsToFile`` writes and ``ompl_benchmark_statistics.py`` reads."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    date = date or _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    out = []
    for e in experiments:
        lines = [
            f"ditree version {ditree.__version__}",
            f"Experiment {e.name}",
            "1 experiment properties",
            f"map TEXT = {e.map}",
            f"Running on {socket.gethostname()}",
            f"Starting at {date}",
            "<<<|", e.setup.rstrip("\n"), "|>>>",
            "<<<|", _cpuinfo(), "|>>>",
            f"{e.seed} is the random seed",
            f"{e.timelimit!r} seconds per run",
            "0 MB per run",
            f"{e.runcount} runs per planner",
            f"{e.totaltime!r} seconds spent to collect the data",
            "1 enum type",
            "status|" + "|".join(STATUS_ENUM),
            f"{len(e.planners)} planners",
        ]
        for p in e.planners:
            lines.append(p.name)
            lines.append(f"{len(p.settings)} common properties")
            lines += p.settings
            lines.append(f"{len(RUN_PROPERTIES)} properties for each run")
            lines += [f"{n} {t}" for n, t in RUN_PROPERTIES]
            lines.append(f"{len(p.runs)} runs")
            lines += ["".join(_fmt_value(v) + "; " for v in run) for run in p.runs]
            lines.append(".")
        path = folder / f"{slug(e.name)}.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out.append(path)
    return out


def write_benchmark_db(experiments: list[Experiment], path: Path, date: str | None = None) -> Path:
    """Write the Planner Arena database (replacing ``path``) with sqlite3, one experiment per scenario."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    date = date or _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    conn = sqlite3.connect(tmp)
    try:
        c = conn.cursor()
        c.execute("PRAGMA FOREIGN_KEYS = ON")
        c.executescript(SCHEMA)
        c.execute("ALTER TABLE experiments ADD map TEXT")
        for name, typ in RUN_PROPERTIES:
            c.execute(f"ALTER TABLE runs ADD {name.replace(' ', '_')} {typ}")
        c.executemany("INSERT INTO enums VALUES (?,?,?)", [("status", i, d) for i, d in enumerate(STATUS_ENUM)])
        cols = ["experimentid", "plannerid"] + [n.replace(" ", "_") for n, _ in RUN_PROPERTIES]
        insert_run = f"INSERT INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
        version = f"ditree {ditree.__version__}"
        for e in experiments:
            c.execute(
                "INSERT INTO experiments (name,totaltime,timelimit,memorylimit,runcount,version,hostname,cpuinfo,"
                "date,seed,setup,map) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (e.name, e.totaltime, e.timelimit, 0.0, e.runcount, version, socket.gethostname(), _cpuinfo() + "\n",
                 date, e.seed, e.setup.rstrip("\n") + "\n", e.map),
            )
            exp_id = c.lastrowid
            for p in e.planners:
                settings = "".join(s + "\n;" for s in p.settings)  # OMPL's own encoding of the settings
                c.execute("SELECT id FROM plannerConfigs WHERE (name=? AND settings=?)", (p.name, settings))
                row = c.fetchone()
                if row is None:
                    c.execute("INSERT INTO plannerConfigs VALUES (?,?,?)", (None, p.name, settings))
                    pid = c.lastrowid
                else:
                    pid = row[0]
                c.executemany(insert_run, [[exp_id, pid] + list(run) for run in p.runs])
        for name, sql in VIEWS.items():
            c.execute(f"CREATE VIEW {name} AS {sql}")
        conn.commit()
    finally:
        conn.close()
    tmp.replace(path)
    return path

"""Benchmark suites and the data directory that holds them.

Third-party benchmark data (the DiTree paper's maps and scenarios, dynobench) is not part of the
package: it is read from a *data directory*, found in this order:

1. an explicit ``data_dir`` argument (the CLI's ``--data-dir``),
2. the ``DITREE_DATA`` environment variable,
3. ``shared/benchmarks`` beside the repository (``<repo>/../shared/benchmarks``), when it exists.

A suite is a named folder of the data directory (``<data dir>/<suite name>/``) and is addressed by
name, never by a path: ``suite_dir("ditree_car")``. Its scenario files are named *splits*
(``ditree_car``: ``test``, the 15 out-of-distribution test scenarios, and ``validation``, 3 mazes).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from envs.errors import DataDirError

DATA_ENV = "DITREE_DATA"
"""Environment variable naming the data directory."""


@dataclass(frozen=True)
class Suite:
    """A benchmark suite: a folder ``name`` of the data directory.

    ``splits`` maps a split name to its scenario CSV (relative to the suite folder); the first
    split is the default. ``maps`` is the folder of map CSVs; ``instances`` a table of instances
    for suites without scenario files (dynobench).
    """

    name: str
    description: str
    splits: dict[str, str] = field(default_factory=dict)
    maps: str | None = None
    instances: str | None = None

    @property
    def default_split(self) -> str | None:
        return next(iter(self.splits), None)


SUITES: dict[str, Suite] = {
    "ditree_car": Suite(
        "ditree_car",
        "the DiTree paper's maps and scenarios (15 test scenarios on 7 maps, 3 validation mazes, the D4RL "
        "large maze d4rl_large)",
        splits={"test": "test_scenarios.csv", "validation": "validation_scenarios.csv"},
        maps="maps",
    ),
    "dynobench": Suite(
        "dynobench",
        "dynobench unicycle and car instances (instances.csv, envs/<robot>/<instance>.yaml)",
        instances="instances.csv",
    ),
}


def default_data_dir() -> Path:
    """``<repo>/../shared/benchmarks``: the data directory beside the repository (it may not exist)."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks"


def _hint() -> str:
    return f"set {DATA_ENV}=/path/to/benchmarks or pass --data-dir"


def resolve_data_dir(override: str | Path | None = None) -> Path:
    """The data directory: ``override``, else ``$DITREE_DATA``, else :func:`default_data_dir`.

    Raises :class:`DataDirError` (one line, saying what to set) when the chosen folder does not exist.
    """
    if override is not None and str(override) != "":
        path, how = Path(override).expanduser(), "--data-dir"
    elif os.environ.get(DATA_ENV):
        path, how = Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV}"
    else:
        path = default_data_dir()
        if not path.is_dir():
            raise DataDirError(f"no benchmark data directory: {path} does not exist; {_hint()}")
        return path
    if not path.is_dir():
        raise DataDirError(f"benchmark data directory {path} (from {how}) does not exist; {_hint()}")
    return path


data_dir = resolve_data_dir
"""Alias of :func:`resolve_data_dir` (``envs.suites.data_dir()``)."""


def get_suite(name: str) -> Suite:
    """The :class:`Suite` called ``name``; :class:`DataDirError` listing the known ones otherwise."""
    if name not in SUITES:
        raise DataDirError(f"unknown benchmark suite {name!r}; known: {list(SUITES)}")
    return SUITES[name]


def suite_dir(name: str, data_dir: str | Path | None = None) -> Path:
    """The folder of suite ``name`` in the data directory; :class:`DataDirError` when it is missing."""
    get_suite(name)
    path = resolve_data_dir(data_dir) / name
    if not path.is_dir():
        raise DataDirError(f"benchmark suite {name!r} not found: no folder {path}; {_hint()}")
    return path


def has_suite(name: str, data_dir: str | Path | None = None) -> bool:
    """Whether suite ``name`` can be found (no error)."""
    try:
        suite_dir(name, data_dir)
    except DataDirError:
        return False
    return True


def split_names(name: str) -> list[str]:
    """The scenario splits of suite ``name`` (the default first)."""
    return list(get_suite(name).splits)


def suite_scenarios(name: str, split: str | None = None, data_dir: str | Path | None = None) -> Path:
    """The scenario CSV of ``split`` (default: the suite's first split) of suite ``name``."""
    suite = get_suite(name)
    if not suite.splits:
        raise DataDirError(f"benchmark suite {name!r} has no scenario files")
    split = split or suite.default_split
    if split not in suite.splits:
        raise DataDirError(f"benchmark suite {name!r} has no split {split!r}; known: {list(suite.splits)}")
    path = suite_dir(name, data_dir) / suite.splits[split]
    if not path.is_file():
        raise DataDirError(f"benchmark suite {name!r}: scenario file {path} is missing; {_hint()}")
    return path


def suite_maps_dir(name: str, data_dir: str | Path | None = None) -> Path:
    """The folder of map CSVs of suite ``name``."""
    suite = get_suite(name)
    if suite.maps is None:
        raise DataDirError(f"benchmark suite {name!r} has no grid maps")
    return suite_dir(name, data_dir) / suite.maps


def suite_map(name: str, map_name: str, data_dir: str | Path | None = None) -> Path:
    """The CSV of map ``map_name`` of suite ``name`` (e.g. ``suite_map("ditree_car", "d4rl_large")``)."""
    path = suite_maps_dir(name, data_dir) / f"{map_name}.csv"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.csv"))
        raise DataDirError(f"benchmark suite {name!r} has no map {map_name!r}; known: {known}")
    return path


def suite_instances(name: str, data_dir: str | Path | None = None) -> list[dict[str, str]]:
    """The rows of an instance table (dynobench's ``instances.csv``), as dicts of strings."""
    suite = get_suite(name)
    if suite.instances is None:
        raise DataDirError(f"benchmark suite {name!r} has no instance table")
    path = suite_dir(name, data_dir) / suite.instances
    if not path.is_file():
        raise DataDirError(f"benchmark suite {name!r}: instance table {path} is missing; {_hint()}")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))

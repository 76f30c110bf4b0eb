"""Command-line options shared by the commands that read benchmark suites (``--suite``,
``--data-dir``): see :mod:`envs.suites` for how the data directory is found."""

from __future__ import annotations

import argparse
from pathlib import Path

DATA_DIR_HELP = ("benchmark data directory (default: $DITREE_DATA, else shared/benchmarks beside the "
                 "repository)")


def add_data_dir(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR", help=DATA_DIR_HELP)


def suite_names() -> list[str]:
    from envs.suites import SUITES

    return list(SUITES)


def map_path(map_arg: str, suite: str | None, data_dir: Path | None) -> Path:
    """``--map``: a CSV path, or with ``--suite`` the name of one of the suite's maps."""
    if suite is None:
        return Path(map_arg)
    from envs.suites import suite_map

    return suite_map(suite, map_arg, data_dir)

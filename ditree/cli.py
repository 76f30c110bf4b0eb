"""The ``ditree`` command line. Each subcommand lives in its own module in ``ditree.commands``
and defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; they are
discovered here, so adding a command never edits this file.

Bad input (a ``DitreeInputError``, a missing file) ends with a one-line message and exit status 2.

Robots of your own: a module that registers a robot (``envs.registry.register_robot``) on import is
imported with ``ditree --robot-module mypkg.myrobot COMMAND ...`` (repeatable), or named in the
environment variable ``DITREE_ROBOT_MODULES`` (comma-separated), before the command runs; the
module must be importable (installed, or on ``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import ditree
from envs.errors import DitreeInputError


def _commands():
    import ditree.commands as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"ditree.commands.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    return mods


ROBOT_MODULES_ENV = "DITREE_ROBOT_MODULES"


def import_robot_modules(names: list[str]) -> None:
    """Import each module of ``names`` and those of ``$DITREE_ROBOT_MODULES`` (their robots register
    themselves); a module that cannot be imported is a :class:`DitreeInputError` naming it."""
    env = [n.strip() for n in os.environ.get(ROBOT_MODULES_ENV, "").split(",") if n.strip()]
    for name in [*env, *names]:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise DitreeInputError(f"--robot-module {name}: cannot import it ({e})") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ditree",
        description="Kinodynamic motion planning with diffusion trees (train once, plan anywhere).",
    )
    parser.add_argument("--version", action="version", version=f"ditree {ditree.__version__}")
    parser.add_argument("--robot-module", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, e.g. one that registers your own robot (repeatable; also "
                             f"${ROBOT_MODULES_ENV}, comma-separated)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    try:
        import_robot_modules(args.robot_module)
        return int(args._run(args) or 0)
    except (DitreeInputError, FileNotFoundError) as e:
        print(f"ditree {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ditree {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

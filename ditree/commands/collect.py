"""``ditree collect``: collect expert demonstrations into a dataset file, or describe one.

    ditree collect --suite ditree_car --map d4rl_large --episodes 3000 \\
        --out data/expert_d4rl_large.npz --seed 0 [--workers 2] [--plot data/expert_d4rl_large.png]
        [--action-noise 0.3 --noise-fraction 0.75 --noise-hold 0.2]   # DART-style noisy episodes
    ditree collect --robot racecar --suite ditree_car --map d4rl_large --episodes 1000 \\
        --out data/expert_racecar_d4rl_large.npz --seed 0   # the PyBullet racecar, map at 2 m per cell
    ditree collect --map my_world.csv --episodes 500 --out data/mine.npz   # any map CSV (e.g. ditree world)
    ditree collect --robot unicycle1_v0 --expert search --episodes 500 --budget-iters 600 \\
        --out data/search_unicycle.npz --seed 0 [--planner sst] [--worlds box] [--kinds trap clutter]
        # the search expert (ditree.data.search_expert): our planners in generated worlds, resumable

``--suite ditree_car --map d4rl_large`` reads the map from the benchmark data directory
(``--data-dir``, ``$DITREE_DATA`` or shared/benchmarks beside the repository).
    ditree collect --stats data/expert_d4rl_large.npz [--plot OUT.png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

NAME = "collect"
HELP = "collect expert demonstrations (--map/--episodes/--out) or describe a dataset (--stats)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--robot", default="car",
                   help="registered robot whose expert drives (default car; racecar: ditree.data.racecar_expert; "
                        "see `ditree robots`)")
    from ditree.commands._suites import add_data_dir, suite_names

    p.add_argument("--map", help="map CSV to drive in, or with --suite a map name of the suite "
                                 "(the paper trains in --suite ditree_car --map d4rl_large)")
    p.add_argument("--suite", choices=suite_names(), default=None, help="benchmark suite whose map --map names")
    add_data_dir(p)
    p.add_argument("--cell-size", type=float, default=None,
                   help="map cell size in m (default: the robot's, 1 for the car, 2 for the racecar)")
    p.add_argument("--episodes", type=int, help="number of kept episodes to collect")
    p.add_argument("--out", help="dataset file to write (.npz)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--stats", metavar="PATH", help="print statistics of an existing dataset instead")
    p.add_argument("--plot", metavar="OUT.png", help="also draw 50 demonstrations over the map")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--expert", choices=("pursuit", "search"), default=None,
                   help="pursuit: the robot's hand-written expert on --map; search: our planners on generated "
                        "training worlds (ditree.data.search_expert). Default: pursuit where the robot has one "
                        "or --map is given, else search")
    s = p.add_argument_group("search expert (--expert search; SearchExpertConfig)")
    s.add_argument("--planner", default="sst", help="registered planner with an iteration budget (default sst; "
                                                     "ditree-star where the robot has a checkpoint)")
    s.add_argument("--budget-iters", type=int, default=600,
                   help="iterations per problem (max_iterations; a seed reproduces the data exactly; default 600, "
                        "docs/benchmarks.md 'Search expert')")
    s.add_argument("--budget-s", type=float, default=None,
                   help="seconds per problem instead of / besides iterations (the data are then not bit-reproducible)")
    s.add_argument("--worlds", choices=("auto", "grid", "box"), default="auto",
                   help="training world source: grid (envs.generators) or box (envs.box_generators); auto: grid "
                        "for robots with a hand-written expert, box for the others")
    s.add_argument("--kinds", nargs="+", default=None, help="world kinds to draw from (default: all of the source)")
    s.add_argument("--grid-size", type=int, nargs=2, default=(12, 12), metavar=("ROWS", "COLS"),
                   help="grid world size in cells (default 12 12)")
    s.add_argument("--min-separation", type=float, default=0.0, help="least start-goal distance in m (default 0)")
    s.add_argument("--goal-tol", type=float, default=None,
                   help="goal radius (grid) or state tolerance (box); default the robot's / the generator's")
    s.add_argument("--connect-tol", type=float, default=0.0,
                   help="search full-state goals to this tolerance and connect by trajectory optimisation (0: off)")
    s.add_argument("--no-polish", action="store_true", help="do not polish connected paths")
    s.add_argument("--return-first", action="store_true", help="keep the first path instead of the budget's best")
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="further planner parameter (repeatable), typed as for `ditree plan --param`")
    g = p.add_argument_group("DART-style action noise (ExpertConfig; labels stay the expert's clean controls)")
    g.add_argument("--action-noise", type=float, default=0.0,
                   help="std of the noise on executed controls, fraction of their bounds (car) or half-ranges "
                        "(racecar) (default 0: off)")
    g.add_argument("--noise-fraction", type=float, default=1.0, help="fraction of noisy episodes (default 1)")
    g.add_argument("--noise-hold", type=float, default=0.2, help="seconds each noise sample is held (default 0.2)")
    g.add_argument("--noisy-safety-margin", type=float, default=0.0,
                   help="safety margin of noisy episodes in m (default 0: exact footprint only)")


def run(args: argparse.Namespace) -> int:
    from envs.errors import DitreeInputError

    if args.stats:
        from ditree.data.dataset import ExpertDataset

        ds = ExpertDataset.load(args.stats)
        print(describe(ds))
        if args.plot:
            print(f"wrote {plot_demonstrations(ds, args.plot)}")
        return 0
    from envs.registry import robot_spec

    # a map names the pursuit expert's world; without one, robots lacking a hand-written expert use search
    expert = args.expert or ("pursuit" if robot_spec(args.robot).expert or args.map or args.suite else "search")
    if expert == "search":
        return _run_search(args)
    missing = [f"--{k}" for k in ("map", "episodes", "out") if getattr(args, k) is None]
    if missing:
        raise DitreeInputError(f"collecting needs {', '.join(missing)} (or use --stats PATH)")
    if args.episodes < 1:
        raise DitreeInputError(f"--episodes must be >= 1, got {args.episodes}")
    if args.workers < 1:
        raise DitreeInputError(f"--workers must be >= 1, got {args.workers}")
    if args.cell_size is not None and not args.cell_size > 0:
        raise DitreeInputError(f"--cell-size must be positive, got {args.cell_size}")
    from envs.registry import load_entry_point
    from envs.world import GridMap

    spec = robot_spec(args.robot)
    if not (spec.expert and spec.expert_config):
        raise DitreeInputError(f"robot {args.robot!r} has no expert to collect with (RobotSpec.expert)")
    collect, Config = load_entry_point(spec.expert), load_entry_point(spec.expert_config)
    default_cell = spec.map_cell_size
    try:
        cfg = Config(action_noise=args.action_noise, noise_fraction=args.noise_fraction,
                     noise_hold=args.noise_hold, noisy_safety_margin=args.noisy_safety_margin)
    except ValueError as e:
        raise DitreeInputError(f"bad noise option: {e}") from e
    from ditree.commands._suites import map_path

    world = GridMap.from_csv(map_path(args.map, args.suite, args.data_dir), cell_size=args.cell_size or default_cell)
    t0 = time.perf_counter()
    ds = collect(world, args.episodes, args.seed, args.workers, cfg=cfg, progress=not args.quiet)
    elapsed = time.perf_counter() - t0
    out = ds.save(args.out)
    c = ds.metadata["counts"]
    print(f"wrote {out}: {c['episodes']} episodes, {c['pairs']} state-control pairs, "
          f"{c['attempted']} attempted (expert success {100 * c['success_rate']:.1f}%), {elapsed:.1f} s "
          f"with {args.workers} worker(s)")
    if args.plot:
        print(f"wrote {plot_demonstrations(ds, args.plot)}")
    return 0


def _run_search(args: argparse.Namespace) -> int:
    """``--expert search``: collect with :func:`ditree.data.search_expert.collect_search`."""
    from ditree.data.search_expert import SearchExpertConfig, collect_search, parts_dir
    from ditree.registry import parse_params
    from envs.errors import DitreeInputError

    missing = [f"--{k}" for k in ("episodes", "out") if getattr(args, k) is None]
    if missing:
        raise DitreeInputError(f"collecting needs {', '.join(missing)} (or use --stats PATH)")
    if args.map or args.suite:
        raise DitreeInputError("--expert search plans in generated training worlds only (--worlds/--kinds); "
                               "it takes no --map or --suite")
    if args.action_noise:
        raise DitreeInputError("--action-noise applies to --expert pursuit only")
    params = parse_params(args.planner, args.param)
    cfg = SearchExpertConfig(planner=args.planner, iterations=args.budget_iters, budget_s=args.budget_s,
                             worlds=args.worlds, kinds=tuple(args.kinds or ()), grid_rows=args.grid_size[0],
                             grid_cols=args.grid_size[1], min_separation_m=args.min_separation, goal_tol=args.goal_tol,
                             connect_tol=args.connect_tol, polish=not args.no_polish, return_first=args.return_first,
                             params=tuple(params.items()))
    t0 = time.perf_counter()
    ds = collect_search(args.robot, args.episodes, args.out, seed=args.seed, workers=args.workers, cfg=cfg,
                        progress=not args.quiet)
    elapsed = time.perf_counter() - t0
    c = ds.metadata["counts"]
    ratio = ds.metadata.get("median_duration_ratio")
    print(f"wrote {args.out}: {c['episodes']} episodes, {c['pairs']} state-control pairs in {c['worlds']} generated "
          f"worlds, {c['attempted']} problems planned ({100 * c['success_rate']:.1f}% kept), median duration / lower "
          f"bound {ratio:.2f}, {elapsed:.1f} s with {args.workers} worker(s) (finished problems stay in "
          f"{parts_dir(args.out)} for a rerun with more --episodes)" if ratio else
          f"wrote {args.out}: {c['episodes']} episodes, {elapsed:.1f} s")
    if args.plot:
        print(f"wrote {plot_demonstrations(ds, args.plot)}")
    return 0


def _hist(values: np.ndarray, edges: np.ndarray, unit: str, width: int = 40) -> list[str]:
    counts, _ = np.histogram(values, bins=edges)
    top = max(int(counts.max()), 1)
    return [f"  [{lo:6.2f}, {hi:6.2f}) {unit:5s} {n:8d} {'#' * round(width * n / top)}"
            for lo, hi, n in zip(edges[:-1], edges[1:], counts)]


def _robot(ds):
    """The dataset's robot with its recorded parameters (keys its parameter class does not know ignored)."""
    from envs.registry import make_robot

    params = ds.metadata.get("robot_params")
    if not isinstance(params, dict):
        return make_robot(ds.robot)
    known = make_robot(ds.robot).params.__dataclass_fields__
    return make_robot(ds.robot, {k: v for k, v in params.items() if k in known})


def _most_used_world(ds) -> int:
    """Index of the world with the most episodes (the first of equals)."""
    return int(np.argmax(np.bincount(ds.episode_world_indices(), minlength=ds.num_worlds)))


def _worlds_summary(ds) -> str:
    from envs.box_world import BoxWorld

    worlds = ds.worlds_list()
    n_box = sum(isinstance(w, BoxWorld) for w in worlds)
    k = _most_used_world(ds)
    used = int(np.sum(ds.episode_world_indices() == k))
    return (f"{len(worlds)} world(s) ({len(worlds) - n_box} grid, {n_box} box; most used {worlds[k].name} with "
            f"{used} episodes)")


def describe(ds) -> str:
    """A text report of a dataset: counts, expert success, coverage, speed and control histograms."""
    m = ds.metadata
    c = m.get("counts", {})
    if ds.worlds is None:
        where = f"map {m.get('map_name')} ({ds.map_grid.shape[0]} x {ds.map_grid.shape[1]})"
    else:
        where = _worlds_summary(ds)
    lines = [(f"dataset: {ds.num_episodes} episodes, {ds.num_pairs} state-control pairs, {where}, "
              f"robot {m.get('robot')}, dt {m.get('dt')} s")]
    if ds.goal_states is not None:
        lines.append(f"goal states: {int(ds.has_goal_state().sum())} of {ds.num_episodes} episodes end at a goal state")
    if isinstance(m.get("sources"), list):
        lines.append(f"concatenated from {len(m['sources'])} source(s): "
                     + ", ".join(f"{s.get('map_name', '?')} ({s.get('episodes')} episodes)" for s in m["sources"]))
    if c:
        rej = c.get("rejected", {})
        lines.append(f"expert: {c.get('attempted')} problems attempted, {c.get('solved')} solved "
                     f"({100 * c.get('success_rate', 0):.1f}%); rejected: " + ", ".join(f"{k} {v}" for k, v in rej.items()))
        ex = m.get("expert", {})
        if ex.get("kind") == "search":
            ratio = m.get("median_duration_ratio")
            lines.append(f"  search expert: {ex.get('planner')}, {ex.get('iterations')} iterations per problem"
                         + (f", {ex.get('budget_s')} s" if ex.get("budget_s") else "")
                         + f", {m.get('world_source')} worlds, median duration / lower bound "
                         + (f"{ratio:.2f}" if ratio else "-") + f", reproducible {m.get('reproducible')}")
        if c.get("moving_starts_attempted") and "reverse_used" in c:  # the racecar expert
            lines.append(f"  starts in motion: {c['moving_starts_solved']}/{c['moving_starts_attempted']} solved; "
                         f"path behind the car: {c['behind_solved']}/{c['behind_attempted']} solved; "
                         f"three-point turn (reverse first) in {c['reverse_used']} kept episodes")
        elif c.get("moving_starts_attempted"):
            lines.append(f"  starts in motion: {c['moving_starts_solved']}/{c['moving_starts_attempted']} solved; "
                         f"path behind the car: {c['behind_solved']}/{c['behind_attempted']} solved; "
                         f"swing-out used in {c.get('swing_used', 0)}, brake-first in {c.get('brake_used', 0)} kept episodes")
    if ds.executed_controls is not None:
        diff = np.abs(ds.executed_controls - ds.controls)
        noisy_rows = np.mean(np.any(diff > 1e-6, axis=1))
        n = m.get("noise", {})
        lines.append(f"action noise: {100 * noisy_rows:.1f}% of rows executed a perturbed control (mean |executed - "
                     f"label| dD {diff[:, 0].mean():.2f} 1/s, ddelta {diff[:, 1].mean():.3f} rad/s); noisy problems "
                     f"solved {n.get('solved')}/{n.get('attempted')}")
    lines.append(f"seed {m.get('seed')}, workers {m.get('workers')}, validated with {m.get('validator')}, "
                 f"ditree {m.get('ditree_version')}, created {m.get('created')}")
    lengths = ds.episode_lengths() * float(m.get("dt", 0.02))
    first = ds.states[np.r_[0, ds.episode_ends[:-1]]]
    lines.append(f"episode duration: mean {lengths.mean():.2f} s, min {lengths.min():.2f} s, max {lengths.max():.2f} s")
    if ds.robot == "car":
        lines.append(f"starts in motion (v0 > 0): {100 * np.mean(first[:, 3] > 0):.1f}% of episodes")
    else:  # a settled racecar at rest still shows millimetres per second
        v0 = _robot(ds).speed(first.astype(float))
        lines.append(f"starts in motion (v0 > 0.05 m/s): {100 * np.mean(v0 > 0.05):.1f}% of episodes")
    to_goal = ds.goals - first[:, :2]
    off = np.abs(np.angle(np.exp(1j * (np.arctan2(to_goal[:, 1], to_goal[:, 0]) - first[:, 2]))))
    lines.append(f"goal more than 90 deg off the start heading: {100 * np.mean(off > np.pi / 2):.1f}% of episodes")
    if ds.robot == "car":
        v = ds.states[:, 3]
        lines.append("speed v (m/s):")
        lines += _hist(v, np.linspace(0, 4.5, 10), "m/s")
        lines.append("steering angle delta (rad):")
        lines += _hist(ds.states[:, 5], np.linspace(-0.4, 0.4, 9), "rad")
        lines.append("throttle rate dD (1/s):")
        lines += _hist(ds.controls[:, 0], np.linspace(-10, 10, 11), "1/s")
        lines.append("steering rate ddelta (rad/s):")
        lines += _hist(ds.controls[:, 1], np.linspace(-2, 2, 9), "rad/s")
    else:
        robot = _robot(ds)
        lines.append("forward speed (m/s):")
        lines += _hist(robot.speed(ds.states.astype(float)), np.linspace(-1.5, 3.5, 11), "m/s")
        for j, name in enumerate(robot.control_names):
            lines.append(f"control {name}:")
            lines += _hist(ds.controls[:, j], np.linspace(robot.control_low[j], robot.control_high[j], 9), "")
    lines.append("expert settings: " + json.dumps(m.get("expert", {}), sort_keys=True))
    return "\n".join(lines)


def plot_demonstrations(ds, out: str | Path, n: int = 50, seed: int = 0) -> Path:
    """Draw ``n`` demonstrations (chosen with ``seed``) over the map (for a dataset of several
    worlds: the most used world and its episodes): paths coloured by speed, the robot's bodies
    every 0.5 s, start poses, goals (and goal states' outlines)."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    from ditree.viz import draw_footprints, draw_world, save_figure

    k = _most_used_world(ds)
    world = ds.worlds_list()[k]
    robot = _robot(ds)
    candidates = np.flatnonzero(ds.episode_world_indices() == k)
    pick = np.sort(np.random.default_rng(seed).choice(candidates, size=min(n, len(candidates)), replace=False))
    dt = float(ds.metadata.get("dt", robot.dt if hasattr(robot, "dt") else 0.02))
    fig, ax = plt.subplots(figsize=(12, 9))
    draw_world(ax, world)
    segs, speeds = [], []
    for e in pick:
        s = ds.episode_states(int(e))
        segs.append(np.stack([s[:-1, :2], s[1:, :2]], 1))
        speeds.append(s[:-1, 3] if ds.robot == "car" else robot.speed(s[:-1].astype(float)))
        draw_footprints(ax, robot, s[:: max(1, round(0.5 / dt))].astype(float), color="tab:blue", alpha=0.12)
        draw_footprints(ax, robot, s[:1].astype(float), color="tab:green", alpha=0.9)
    lc = LineCollection(np.concatenate(segs), cmap="viridis", linewidths=1.4)
    lc.set_array(np.concatenate(speeds))
    lc.set_clim(0, 4 if ds.robot == "car" else 3)
    ax.add_collection(lc)
    fig.colorbar(lc, ax=ax, shrink=0.7, label="speed (m/s)")
    ax.plot(ds.goals[pick, 0], ds.goals[pick, 1], "r*", ms=9)
    for e in pick:
        ax.add_patch(plt.Circle(tuple(ds.goals[e]), float(ds.metadata.get("expert", {}).get("goal_radius", 0.5)),
                                color="tab:red", alpha=0.08))
    with_state = pick[ds.has_goal_state()[pick]]
    if len(with_state):
        draw_footprints(ax, robot, ds.goal_states[with_state].astype(float), color="none", alpha=1.0)
    where = world.name if ds.num_worlds == 1 else f"{world.name} (world {k} of {ds.num_worlds}, the most used)"
    ax.set_title(f"{len(pick)} of {ds.num_episodes} expert demonstrations in {where} "
                 "(green: starts, red: goals, colour: speed)")
    return save_figure(fig, out)

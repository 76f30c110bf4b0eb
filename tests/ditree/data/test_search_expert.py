"""The search expert: real planners (sst) on generated worlds, real validation, resumable parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ditree.cli import main
from ditree.data.search_expert import (
    EpisodeRecord,
    SearchExpertConfig,
    collect_search,
    parts_dir,
    problem_factory,
)
from envs.errors import DitreeInputError
from envs.registry import make_robot
from planners.results import PlanResult
from planners.validate import validate

# small grid worlds and a small budget: a problem plans in a fraction of a second
CAR = SearchExpertConfig(iterations=120, grid_rows=10, grid_cols=10, kinds=("forest", "rooms"))


@pytest.fixture(scope="module")
def car_run(tmp_path_factory):
    """An uninterrupted 4-episode collection with 2 workers, and its output path."""
    out = tmp_path_factory.mktemp("search") / "car.npz"
    return collect_search("car", 4, out, seed=3, workers=2, cfg=CAR, progress=False), out


def test_car_search_collection_holds_validated_demonstrations(car_run):
    ds, out = car_run
    car = make_robot("car")
    meta = ds.metadata
    assert ds.num_episodes == 4 and meta["robot"] == "car" and meta["expert"]["kind"] == "search"
    assert meta["expert"]["planner"] == "sst" and meta["expert"]["iterations"] == 120
    assert meta["reproducible"] is True and meta["world_source"] == "grid"
    assert meta["training_worlds"].startswith("generated only")
    assert meta["counts"]["attempted"] >= 4 and len(meta["episodes_meta"]) == 4
    factory = problem_factory(CAR, car, 3)
    for e, em in enumerate(meta["episodes_meta"]):
        assert em["planner"] == "sst" and em["iterations"] <= 120 and em["world_kind"] in ("forest", "rooms")
        assert em["duration_ratio"] >= 1.0 and em["duration_s"] == pytest.approx(ds.episode_lengths()[e] * car.dt)
        # the episode's problem is made again from (seed, index) alone, and its path validates in it
        problem = factory(em["index"])
        states = ds.episode_states(e).astype(float)
        assert np.allclose(states[0], problem.start, atol=1e-6)
        assert ds.world_of(e).content_hash() == problem.world.content_hash()
        sim = car.rollout(problem.start[None], ds.controls[ds.episode_slice(e)].astype(float)[None])[0]
        res = PlanResult(True, "sst", 0, 0.0, dt=car.dt, states=sim, controls=ds.controls[ds.episode_slice(e)])
        assert validate(problem, res) == (True, "")
        assert np.allclose(ds.goals[e], problem.goal, atol=1e-6)
    assert (parts_dir(out) / "manifest.json").is_file()


def test_same_seed_same_data_for_any_worker_count_and_after_resume(car_run, tmp_path):
    ds, _ = car_run
    one = collect_search("car", 4, tmp_path / "one.npz", seed=3, workers=1, cfg=CAR, progress=False)
    assert one.content_hash() == ds.content_hash()
    # kill-like: stop after 2 newly planned problems (nothing written but the parts), then resume to 2, then to 4
    out = tmp_path / "resumed.npz"
    assert collect_search("car", 4, out, seed=3, workers=2, cfg=CAR, progress=False, max_new=2) is None
    assert not out.exists() and len(list(parts_dir(out).glob("ep_*.npz"))) >= 2  # + the one in flight, if it ended
    small = collect_search("car", 2, out, seed=3, workers=1, cfg=CAR, progress=False)
    assert small.num_episodes == 2
    resumed = collect_search("car", 4, out, seed=3, workers=2, cfg=CAR, progress=False)
    assert resumed.content_hash() == ds.content_hash()
    # an episode lost in flight (its part never written) while as many kept ones as asked for are finished
    # after it: the gap is planned again, not taken for the end of the collection
    parts = sorted(parts_dir(out).glob("ep_*.npz"))
    gap = parts[1]
    gap.unlink()
    kept_left = sum(EpisodeRecord.load(f, int(f.stem[3:])).kept for f in parts if f != gap)
    again = collect_search("car", kept_left, out, seed=3, workers=1, cfg=CAR, progress=False)
    assert gap.is_file() and again is not None and again.num_episodes == kept_left
    assert collect_search("car", 4, out, seed=3, workers=1, cfg=CAR, progress=False).content_hash() == ds.content_hash()
    other = collect_search("car", 2, tmp_path / "other.npz", seed=4, workers=1, cfg=CAR, progress=False)
    assert other.content_hash() != small.content_hash()


def test_a_different_configuration_is_refused_in_the_same_parts(car_run):
    _, out = car_run
    with pytest.raises(DitreeInputError, match=r"another collection .*expert\.iterations \(120 there, 121 now\)"):
        collect_search("car", 4, out, seed=3, workers=1, cfg=SearchExpertConfig(
            iterations=121, grid_rows=10, grid_cols=10, kinds=("forest", "rooms")), progress=False)
    with pytest.raises(DitreeInputError, match=r"seed \(3 there, 5 now\)"):
        collect_search("car", 4, out, seed=5, workers=1, cfg=CAR, progress=False)


@pytest.mark.parametrize("kw, words", [
    ({"planner": "nope"}, "planner 'nope' is not registered"),
    ({"planner": "ompl-rrt"}, "takes no iteration budget"),
    ({"iterations": -1}, "iterations must be an integer >= 0"),
    ({"iterations": 0}, "budget_s is unset"),
    ({"budget_s": -2.0}, "budget_s must be a positive"),
    ({"worlds": "moon"}, "worlds must be one of"),
    ({"grid_rows": 2}, "grid_rows must be an integer >= 5"),
    ({"params": {"bogus": 1}}, r"has no parameter\(s\) \['bogus'\]"),
    ({"params": {"max_iterations": 5}}, "set by the expert's own fields"),
])
def test_bad_options_name_the_field(kw, words):
    with pytest.raises(DitreeInputError, match=words):
        SearchExpertConfig(**kw)


def test_bad_kinds_and_counts_are_refused_before_any_work(tmp_path):
    with pytest.raises(DitreeInputError, match=r"unknown grid world kind\(s\) \['lake'\]"):
        collect_search("car", 2, tmp_path / "x.npz", cfg=SearchExpertConfig(kinds=("lake",)), progress=False)
    with pytest.raises(DitreeInputError, match="planner 'ditree-star' needs a policy checkpoint"):
        collect_search("unicycle", 2, tmp_path / "x.npz", cfg=SearchExpertConfig(planner="ditree-star"),
                       progress=False)
    with pytest.raises(DitreeInputError, match="episodes must be an integer >= 1"):
        collect_search("car", 0, tmp_path / "x.npz", progress=False)
    assert not parts_dir(tmp_path / "x.npz").exists()


def test_config_round_trip():
    cfg = SearchExpertConfig(planner="sst", iterations=50, budget_s=3.0, params={"goal_bias": 0.2}, kinds=("maze",))
    assert SearchExpertConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert not cfg.reproducible and CAR.reproducible
    with pytest.raises(DitreeInputError, match=r"unknown field\(s\) \['colour'\]"):
        SearchExpertConfig.from_dict({"colour": 1})


def test_cli_collects_with_the_search_expert(tmp_path: Path, capsys):
    out = tmp_path / "cli.npz"
    rc = main(["collect", "--robot", "car", "--expert", "search", "--episodes", "2", "--budget-iters", "100",
               "--grid-size", "10", "10", "--kinds", "forest", "--out", str(out), "--seed", "1", "--workers", "1",
               "--quiet", "--param", "goal_bias=0.2"])
    assert rc == 0 and out.is_file()
    assert "2 episodes" in capsys.readouterr().out
    from ditree.data.dataset import ExpertDataset

    ds = ExpertDataset.load(out)
    assert ds.metadata["expert"]["params"] == {"goal_bias": 0.2} and ds.metadata["expert"]["iterations"] == 100
    assert main(["collect", "--expert", "search", "--episodes", "2", "--map", "x.csv", "--out", str(out)]) == 2
    assert "takes no --map" in capsys.readouterr().err


def test_unicycle_search_collection_on_box_worlds(tmp_path):
    pytest.importorskip("envs.box_generators")
    from envs.box_world import BoxWorld
    from envs.goal import StateGoal

    cfg = SearchExpertConfig(iterations=60, kinds=("open", "parked"))
    ds = collect_search("unicycle1_v0", 3, tmp_path / "uni.npz", seed=0, workers=1, cfg=cfg, progress=False)
    robot = make_robot("unicycle1_v0")
    assert ds.num_episodes == 3 and ds.metadata["world_source"] == "box" and ds.goal_states is not None
    factory = problem_factory(cfg, robot, 0)
    for e, em in enumerate(ds.metadata["episodes_meta"]):
        problem = factory(em["index"])
        assert isinstance(ds.world_of(e), BoxWorld) and isinstance(problem.goal_region, StateGoal)
        assert ds.world_of(e).content_hash() == problem.world.content_hash()
        assert np.allclose(ds.goal_states[e], problem.goal_region.state, atol=1e-6)
        assert problem.goal_region.reached(ds.final_states[e].astype(float)) or \
            problem.goal_region.distance(ds.final_states[e].astype(float)) < problem.goal_region.tolerance + 1e-5
        assert em["world_kind"] in ("open", "parked") and em["duration_ratio"] >= 1.0
    # a robot without a hand-written expert collects with the search expert by default
    out = tmp_path / "cli_uni.npz"
    assert main(["collect", "--robot", "unicycle1_v0", "--episodes", "1", "--budget-iters", "40", "--kinds", "open",
                 "--out", str(out), "--workers", "1", "--quiet"]) == 0
    from ditree.data.dataset import ExpertDataset

    assert ExpertDataset.load(out).metadata["expert"]["kind"] == "search"

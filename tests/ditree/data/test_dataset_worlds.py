"""Expert datasets over many worlds (format version 2): grid and box worlds, per-episode world
indices, goal states, version-1 files, concatenation, and ``ditree collect --stats/--plot``."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from ditree.cli import main
from ditree.data.augment import mirror_local_map
from ditree.data.dataset import FORMAT_VERSION, DatasetError, Episode, ExpertDataset
from ditree.data.world_json import world_from_json, world_to_json
from envs.box_world import BoxWorld
from envs.errors import MapFormatError
from envs.generators import maze
from envs.local_map import LocalMapSpec, local_maps
from envs.registry import make_robot

ROBOT = "unicycle1_v0"
GRID = maze(9, 11, seed=3, cell_size=0.5)
BOX_A = BoxWorld((0.0, 0.0, 4.0, 3.0), np.array([[2.0, 1.5, 0.6, 0.8]]), np.array([[1.0, 2.3, 0.3]]), name="box_a")
BOX_B = BoxWorld((-2.0, -2.0, 2.0, 2.0), np.array([[0.5, -0.5, 0.4, 1.2], [-1.0, 1.0, 0.5, 0.5]]), name="box_b")


def rollouts(robot_name: str, worlds, per_world: int, T: int, seed: int, goal_state_every: int = 2) -> list[Episode]:
    """Episodes of random controls from free starts in each world (real dynamics, no expert);
    every ``goal_state_every``-th episode gets its final state as a goal state."""
    robot, rng, eps = make_robot(robot_name), np.random.default_rng(seed), []
    for w, world in enumerate(worlds):
        starts = world.sample_free_points(rng, per_world)
        for xy in starts:
            x = np.array(robot.rest_state(float(xy[0]), float(xy[1]), float(rng.uniform(-np.pi, np.pi))))
            u = robot.sample_controls(rng, (T,))
            states = [x]
            for t in range(T):
                states.append(np.asarray(robot.step(states[-1], u[t])))
            states = np.array(states)
            k = len(eps)
            eps.append(Episode(states, u, w, world.sample_free_points(rng, 1)[0],
                               states[-1] if k % goal_state_every == 0 else None))
    return eps


@pytest.fixture(scope="module")
def three() -> ExpertDataset:
    worlds = [GRID, BOX_A, BOX_B]
    return ExpertDataset.from_episodes(ROBOT, rollouts(ROBOT, worlds, 2, 12, seed=0), worlds,
                                       {"dt": 0.1, "seed": 0, "counts": {"attempted": 8, "solved": 6}})


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite(path, out, **changes):
    arrays = _arrays(path)
    for k, v in changes.items():
        if v is None:
            del arrays[k]
        else:
            arrays[k] = v
    np.savez(out, **arrays)
    return out


def test_world_json_round_trips_grid_and_box_worlds():
    for w in (GRID, BOX_A, BOX_B):
        back = world_from_json(json.loads(json.dumps(world_to_json(w))))
        assert type(back) is type(w) and back.name == w.name and back.content_hash() == w.content_hash()
    np.testing.assert_array_equal(world_from_json(world_to_json(GRID)).grid, GRID.grid)
    d = world_to_json(GRID)
    d["grid"]["shape"] = [9, 12]
    with pytest.raises(MapFormatError, match="'grid.packbits' holds 13 bytes, expected 14"):
        world_from_json(d)
    with pytest.raises(MapFormatError, match="world type is 'mesh'"):
        world_from_json({"type": "mesh"})


def test_three_world_file_round_trips(three, tmp_path):
    ds = three
    assert ds.num_worlds == 3 and ds.map_grid is None and ds.metadata["format_version"] == FORMAT_VERSION == 2
    assert ds.metadata["robot"] == ROBOT and ds.metadata["counts"]["episodes"] == 6
    assert ds.metadata["counts"]["pairs"] == 72 and ds.metadata["counts"]["solved"] == 6
    np.testing.assert_array_equal(ds.episode_world, [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(ds.has_goal_state(), [True, False] * 3)
    path = ds.save(tmp_path / "three.npz")
    raw = _arrays(path)
    assert "map_grid" not in raw and raw["worlds_json"].shape == (3,)
    assert [json.loads(str(t))["type"] for t in raw["worlds_json"]] == ["grid", "box", "box"]
    back = ExpertDataset.load(path)
    for name in ("states", "controls", "episode_ends", "final_states", "goals", "episode_world"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ds, name))
    np.testing.assert_array_equal(back.goal_states, ds.goal_states)  # NaN rows compare equal here
    assert back.metadata == ds.metadata and back.content_hash() == ds.content_hash()
    assert [type(w) for w in back.worlds_list()] == [type(GRID), BoxWorld, BoxWorld]
    assert [w.content_hash() for w in back.worlds_list()] == [w.content_hash() for w in (GRID, BOX_A, BOX_B)]
    assert back.world_of(3).name == "box_a" and back.world_of(-1).name == "box_b"
    np.testing.assert_array_equal(back.world_of(0).grid, GRID.grid)
    # an episode's states come back whole (the last one from final_states) and its goal state
    np.testing.assert_allclose(back.episode_states(2)[-1], back.goal_states[2])
    with pytest.raises(DatasetError, match="3 worlds, so no single world"):
        back.world()


def test_content_hash_covers_worlds_and_goal_states(three):
    d = three
    base = {"states": d.states, "controls": d.controls, "episode_ends": d.episode_ends, "final_states": d.final_states,
            "goals": d.goals, "metadata": d.metadata, "episode_world": d.episode_world}
    same = ExpertDataset(**base, worlds=d.worlds, goal_states=d.goal_states)
    assert same.content_hash() == d.content_hash()
    assert ExpertDataset(**base, worlds=d.worlds).content_hash() != d.content_hash()
    other = BoxWorld(BOX_B.bounds, BOX_B.boxes + 0.01, name="box_b")
    moved = ExpertDataset(**base, worlds=[GRID, BOX_A, other], goal_states=d.goal_states)
    assert moved.content_hash() != d.content_hash()


def test_one_world_v2_dataset_has_a_world(tmp_path):
    eps = rollouts(ROBOT, [BOX_A], 3, 5, seed=1)
    ds = ExpertDataset.from_episodes(ROBOT, eps, [BOX_A], {"dt": 0.1})
    back = ExpertDataset.load(ds.save(tmp_path / "one.npz"))
    assert back.world().content_hash() == BOX_A.content_hash() and back.worlds_list()[0].name == "box_a"


def test_v1_file_still_loads_with_its_old_hash(tiny_car_dataset, tmp_path):
    ds = tiny_car_dataset(episodes=3, T=10)
    arrays = {n: getattr(ds, n) for n in ("states", "controls", "episode_ends", "final_states", "goals", "map_grid")}
    meta = {**ds.metadata, "format_version": 1}
    path = tmp_path / "v1.npz"
    with open(path, "wb") as f:  # written as format version 1 was
        np.savez_compressed(f, metadata=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    back = ExpertDataset.load(path)
    assert back.worlds is None and back.episode_world is None and back.goal_states is None
    assert back.metadata["format_version"] == 1 and back.num_worlds == 1
    np.testing.assert_array_equal(back.world().grid, ds.map_grid)
    assert back.worlds_list()[0].content_hash() == back.world().content_hash() == back.world_of(2).content_hash()
    np.testing.assert_array_equal(back.episode_world_indices(), [0, 0, 0])
    assert not back.has_goal_state().any()
    h = hashlib.sha256()  # the version-1 hash (checkpoints record it): arrays in order, then the metadata
    for name, a in arrays.items():
        h.update(name.encode())
        h.update(np.asarray(a.shape, dtype=np.int64).tobytes())
        h.update(a.tobytes())
    h.update(json.dumps({k: v for k, v in meta.items() if k != "created"}, sort_keys=True).encode())
    assert back.content_hash() == h.hexdigest()
    # saving keeps it a version-1 file
    again = back.save(tmp_path / "again.npz")
    assert set(_arrays(again)) == {*arrays, "metadata"} and ExpertDataset.load(again).metadata["format_version"] == 1


def test_concat_deduplicates_worlds_and_sums_counts(three, tiny_car_dataset):
    more = ExpertDataset.from_episodes(ROBOT, rollouts(ROBOT, [BOX_B, BOX_A], 1, 7, seed=4, goal_state_every=99),
                                       [BOX_B, BOX_A], {"dt": 0.1, "seed": 4, "counts": {"attempted": 3, "solved": 1}})
    cat = ExpertDataset.concat([three, more])
    assert cat.num_worlds == 3 and cat.num_episodes == 8 and cat.num_pairs == 72 + 14
    np.testing.assert_array_equal(cat.episode_world, [0, 0, 1, 1, 2, 2, 2, 1])
    for e in range(cat.num_episodes):
        src, k = (three, e) if e < 6 else (more, e - 6)
        np.testing.assert_array_equal(cat.episode_states(e), src.episode_states(k))
        assert cat.world_of(e).content_hash() == src.world_of(k).content_hash()
    np.testing.assert_array_equal(cat.has_goal_state(), [True, False] * 3 + [True, False])
    m = cat.metadata
    assert m["counts"]["episodes"] == 8 and m["counts"]["pairs"] == 86 and m["counts"]["attempted"] == 11
    assert m["counts"]["solved"] == 7 and m["robot"] == ROBOT and m["dt"] == 0.1 and "seed" not in m
    assert [s["seed"] for s in m["sources"]] == [0, 4] and m["sources"][1]["content_hash"] == more.content_hash()
    nested = ExpertDataset.concat([cat, more])
    assert len(nested.metadata["sources"]) == 3 and nested.num_worlds == 3
    with pytest.raises(DatasetError, match=f"different robots: part 0 is '{ROBOT}', part 1 is 'car'"):
        ExpertDataset.concat([three, tiny_car_dataset(episodes=2, T=5)])
    faster = ExpertDataset.from_episodes(ROBOT, rollouts(ROBOT, [BOX_A], 1, 3, seed=5), [BOX_A],
                                         {"robot_params": {**make_robot(ROBOT).params.to_dict(), "v_max": 2.0}})
    slower = ExpertDataset.from_episodes(ROBOT, rollouts(ROBOT, [BOX_A], 1, 3, seed=5), [BOX_A],
                                         {"robot_params": make_robot(ROBOT).params.to_dict()})
    with pytest.raises(DatasetError, match=r"part 1 was collected with other robot parameters.*v_max"):
        ExpertDataset.concat([slower, faster])


def test_concat_of_v1_car_datasets_keeps_one_shared_map(tiny_car_dataset):
    a, b = tiny_car_dataset(episodes=3, T=8, seed=0), tiny_car_dataset(episodes=2, T=8, seed=0)
    cat = ExpertDataset.concat([a, b])
    assert cat.num_worlds == 1 and cat.map_grid is None and cat.goal_states is None
    np.testing.assert_array_equal(cat.world().grid, a.map_grid)
    np.testing.assert_array_equal(cat.episode_ends, np.r_[a.episode_ends, b.episode_ends + a.num_pairs])


def test_bad_world_data_are_named(three, tmp_path):
    path = three.save(tmp_path / "three.npz")
    bad = three.episode_world.copy()
    bad[4] = 3
    with pytest.raises(DatasetError, match=r"bad\.npz: array 'episode_world' names world 3 for episode 4, but there "
                                           r"are 3 worlds"):
        ExpertDataset.load(_rewrite(path, tmp_path / "bad.npz", episode_world=bad))
    with pytest.raises(DatasetError, match=r"short\.npz: array 'episode_world' has shape \(5,\), expected \(6,\)"):
        ExpertDataset.load(_rewrite(path, tmp_path / "short.npz", episode_world=three.episode_world[:5].copy()))
    with pytest.raises(DatasetError, match=r"nw\.npz: array 'episode_world' is missing"):
        ExpertDataset.load(_rewrite(path, tmp_path / "nw.npz", episode_world=None))
    with pytest.raises(DatasetError, match=r"nj\.npz: missing array\(s\) map_grid"):
        ExpertDataset.load(_rewrite(path, tmp_path / "nj.npz", worlds_json=None, episode_world=None))
    worlds = _arrays(path)["worlds_json"].copy()
    worlds[1] = worlds[1].replace('"bounds"', '"bnds"')
    with pytest.raises(DatasetError, match=r"w\.npz: array 'worlds_json' entry 1: .*'bounds' is missing"):
        ExpertDataset.load(_rewrite(path, tmp_path / "w.npz", worlds_json=worlds))
    gs = three.goal_states.copy()
    gs[1, 0] = 0.0  # a half-NaN row
    with pytest.raises(DatasetError, match=r"g\.npz: array 'goal_states' row 1 is neither finite nor all NaN"):
        ExpertDataset.load(_rewrite(path, tmp_path / "g.npz", goal_states=gs))
    meta = json.loads(str(_arrays(path)["metadata"]))
    meta["format_version"] = 1
    with pytest.raises(DatasetError, match=r"v\.npz: metadata format_version is 1, but the file holds version-2"):
        ExpertDataset.load(_rewrite(path, tmp_path / "v.npz", metadata=np.array(json.dumps(meta))))
    with pytest.raises(DatasetError, match="array 'episode_world' names world -1 for episode 0"):
        ExpertDataset(three.states, three.controls, three.episode_ends, three.final_states, three.goals,
                      metadata=three.metadata, worlds=three.worlds, episode_world=np.r_[-1, three.episode_world[1:]])
    with pytest.raises(DatasetError, match="worlds\\[0\\] is a ndarray"):
        ExpertDataset(three.states, three.controls, three.episode_ends, three.final_states, three.goals,
                      metadata=three.metadata, worlds=[GRID.grid], episode_world=three.episode_world * 0)


def test_episode_records_are_checked():
    robot = make_robot(ROBOT)
    x = np.zeros((4, 3))
    with pytest.raises(DatasetError, match=r"Episode.controls must be \(T, C\) with T = 3"):
        Episode(x, np.zeros((4, 2)), 0, np.zeros(2))
    with pytest.raises(DatasetError, match=r"Episode.goal_state must have shape \(3,\)"):
        Episode(x, np.zeros((3, 2)), 0, np.zeros(2), np.zeros(6))
    car_like = Episode(np.zeros((4, 6)), np.zeros((3, 2)), 0, np.zeros(2))
    with pytest.raises(DatasetError, match=f"episode 0 has 6-D states and 2-D controls, robot '{ROBOT}' has 3 and 2"):
        ExpertDataset.from_episodes(ROBOT, [car_like], [BOX_A], {})
    ok = Episode(x, np.zeros((3, robot.control_dim)), 1, np.zeros(2))
    with pytest.raises(DatasetError, match="names world 1 for episode 0, but there are 1 worlds"):
        ExpertDataset.from_episodes(ROBOT, [ok], [BOX_A], {})
    with pytest.raises(DatasetError, match="metadata robot 'car' is not robot_name"):
        ExpertDataset.from_episodes(ROBOT, [ok], [BOX_A, BOX_B], {"robot": "car"})


def test_box_world_crops_mirror_by_the_same_last_axis_flip():
    """Mirroring a box world about the x axis and the pose with it flips the egocentric crop along
    its last axis, as for a grid (ditree.data.augment)."""
    flipped = BoxWorld((-2.0, -2.0, 2.0, 2.0), BOX_B.boxes * [1, -1, 1, 1], name="box_b_mirrored")
    rng = np.random.default_rng(0)
    poses = np.column_stack([rng.uniform(-1.5, 1.5, (16, 2)), rng.uniform(-np.pi, np.pi, 16)])
    spec = LocalMapSpec(20, 0.1)
    crops = local_maps(BOX_B, poses, spec)
    mirrored = local_maps(flipped, poses * [1, -1, -1], spec)
    assert (crops == 1).any() and (crops == -1).any()
    np.testing.assert_array_equal(mirrored, mirror_local_map(crops))


def test_cli_describes_and_plots_a_multi_world_file(three, tmp_path, capsys):
    path, png = three.save(tmp_path / "three.npz"), tmp_path / "three.png"
    assert main(["collect", "--stats", str(path), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "3 world(s) (1 grid, 2 box; most used" in text and "goal states: 3 of 6 episodes" in text
    assert "control v:" in text and png.stat().st_size > 10_000

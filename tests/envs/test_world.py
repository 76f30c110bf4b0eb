"""Grid worlds (docs/maps.md): map loading, line endings, coordinates, free cells, bad files, random mazes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from envs.errors import DitreeInputError, MapFormatError
from envs.generators import maze
from envs.suites import suite_map, suite_maps_dir
from envs.world import GridMap, random_maze

MAP_NAMES = ("Race_Track", "boxes", "d4rl_large", "narrow_short", "random_huge", "random_large", "random_xlarge",
             "shapes", "val_maze_10", "val_maze_15", "val_maze_7")
"""The maps of the ditree_car suite."""


@pytest.mark.requires_data
def test_the_benchmark_maps_are_all_there():
    assert sorted(p.stem for p in suite_maps_dir("ditree_car").glob("*.csv")) == sorted(MAP_NAMES)


@pytest.mark.requires_data
@pytest.mark.parametrize("name", MAP_NAMES)
def test_every_benchmark_map_loads(name: str):
    path = suite_map("ditree_car", name)
    w = GridMap.from_csv(path)
    H, W = w.shape
    assert w.name == path.stem and w.source == str(path)
    assert w.grid.dtype == np.uint8 and set(np.unique(w.grid)) <= {0, 1}
    # every benchmark map is closed by a wall border and has free space
    assert w.grid[0].all() and w.grid[-1].all() and w.grid[:, 0].all() and w.grid[:, -1].all()
    assert len(w.free_cells()) > 0
    text = path.read_bytes()
    assert text.count(b"\n") >= H  # one line per row (some files end with a blank line)
    assert w.bounds == (-W / 2, W / 2, -H / 2, H / 2)


@pytest.mark.requires_data
def test_some_benchmark_maps_have_windows_line_endings():
    crlf = [n for n in MAP_NAMES if b"\r\n" in suite_map("ditree_car", n).read_bytes()]
    assert crlf and len(crlf) < len(MAP_NAMES)


def test_crlf_and_lf_copies_load_equal(tmp_path: Path):
    maze(9, 13, seed=0).to_csv(tmp_path / "src.csv")
    lf = (tmp_path / "src.csv").read_bytes()
    (tmp_path / "lf.csv").write_bytes(lf)
    (tmp_path / "crlf.csv").write_bytes(lf.replace(b"\n", b"\r\n"))
    a, b = GridMap.from_csv(tmp_path / "lf.csv"), GridMap.from_csv(tmp_path / "crlf.csv")
    np.testing.assert_array_equal(a.grid, b.grid)
    assert a.content_hash() == b.content_hash()
    assert a.shape == (9, 13)


def test_to_csv_round_trip(tmp_path: Path):
    w = maze(21, 17, seed=4, corridor=2)
    w.to_csv(tmp_path / "copy.csv")
    back = GridMap.from_csv(tmp_path / "copy.csv")
    np.testing.assert_array_equal(back.grid, w.grid)
    assert back.content_hash() == w.content_hash()


def test_spec_coordinates():
    H, W = 9, 12
    w = GridMap(np.zeros((H, W), dtype=np.uint8))
    np.testing.assert_allclose(w.cell_to_xy(0, 0), [-W / 2 + 0.5, H / 2 - 0.5])
    np.testing.assert_allclose(w.cell_to_xy(H - 1, W - 1), [W / 2 - 0.5, -H / 2 + 0.5])
    np.testing.assert_allclose(w.cell_to_xy(0, 1) - w.cell_to_xy(0, 0), [1.0, 0.0])  # cols grow to +x
    np.testing.assert_allclose(w.cell_to_xy(1, 0) - w.cell_to_xy(0, 0), [0.0, -1.0])  # rows grow to -y
    half = GridMap(np.zeros((H, W), dtype=np.uint8), cell_size=0.5)
    np.testing.assert_allclose(half.cell_to_xy(0, 0), [-W * 0.25 + 0.25, H * 0.25 - 0.25])


def test_cell_xy_round_trip():
    rng = np.random.default_rng(0)
    for s in (1.0, 0.5):
        w = GridMap(np.zeros((13, 17), dtype=np.uint8), cell_size=s)
        cells = np.column_stack([rng.integers(0, 13, 500), rng.integers(0, 17, 500)])
        xy = w.cell_to_xy(cells[:, 0], cells[:, 1])
        np.testing.assert_array_equal(w.xy_to_cell(xy), cells)
        # any point inside a cell maps back to that cell
        jitter = rng.uniform(-0.499, 0.499, xy.shape) * s
        np.testing.assert_array_equal(w.xy_to_cell(xy + jitter), cells)


def test_free_cell_queries_and_outside_is_wall():
    grid = np.array([[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 1, 1], [1, 1, 1, 1]], dtype=np.uint8)
    w = GridMap(grid)
    np.testing.assert_array_equal(w.free_cells(), [[1, 1], [1, 2], [2, 1]])
    assert w.is_free_cell(1, 1) and not w.is_free_cell(2, 2)
    np.testing.assert_array_equal(w.is_wall_cell([-1, 0, 4, 1, 1], [1, -1, 1, 4, 1]), [True] * 4 + [False])
    free_xy = w.cell_to_xy(1, 2)
    assert w.is_free_point(free_xy)
    assert not w.is_free_point(w.cell_to_xy(2, 2))
    assert not w.is_free_point([100.0, 0.0]) and not w.is_free_point([0.0, -2.01])
    pts = w.sample_free_points(np.random.default_rng(1), 2000)
    assert w.is_free_point(pts).all()
    # uniform over the free area: each of the 3 free cells gets about a third
    counts = np.unique(w.xy_to_cell(pts), axis=0, return_counts=True)[1]
    assert len(counts) == 3 and counts.min() > 550


# ---------------------------------------------------------------- bad map input
def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_ragged_rows_name_file_and_line(tmp_path: Path):
    path = write(tmp_path, "ragged.csv", "1,1,1\n1,0,1\n1,0\n1,1,1\n")
    with pytest.raises(MapFormatError) as e:
        GridMap.from_csv(path)
    assert f"{path}:3" in str(e.value) and "ragged" in str(e.value)


def test_value_other_than_0_or_1_names_file_line_and_column(tmp_path: Path):
    path = write(tmp_path, "two.csv", "1,1,1\r\n1,0,1\r\n1,2,1\r\n")
    with pytest.raises(MapFormatError) as e:
        GridMap.from_csv(path)
    msg = str(e.value)
    assert f"{path}:3" in msg and "column 1" in msg and "'2'" in msg


def test_empty_map_file_names_the_file(tmp_path: Path):
    path = write(tmp_path, "empty.csv", "\n\r\n  \n")
    with pytest.raises(MapFormatError) as e:
        GridMap.from_csv(path)
    assert str(path) in str(e.value) and "empty" in str(e.value)


def test_missing_map_file_names_the_file(tmp_path: Path):
    path = tmp_path / "nowhere" / "map.csv"
    with pytest.raises(MapFormatError) as e:
        GridMap.from_csv(path)
    assert str(path) in str(e.value) and "not found" in str(e.value)


def test_bad_array_names_the_cell():
    with pytest.raises(MapFormatError) as e:
        GridMap(np.array([[1, 1], [1, 7]]), name="arr")
    assert "arr" in str(e.value) and "row 1, col 1" in str(e.value)
    with pytest.raises(MapFormatError, match="cell_size"):
        GridMap(np.zeros((2, 2)), cell_size=0.0)


def test_input_errors_are_value_errors():
    assert issubclass(MapFormatError, DitreeInputError) and issubclass(DitreeInputError, ValueError)


# ---------------------------------------------------------------- random mazes
def test_random_maze_is_seeded():
    a, b = random_maze(15, 21, seed=3), random_maze(15, 21, seed=3)
    np.testing.assert_array_equal(a.grid, b.grid)
    assert a.content_hash() == b.content_hash()
    others = [random_maze(15, 21, seed=s).grid for s in (4, 5, 6)]
    assert all((g != a.grid).any() for g in others)


@pytest.mark.parametrize("shape", [(15, 21), (12, 10), (3, 3)])
def test_random_maze_border_and_connectivity(shape):
    for seed in range(5):
        w = random_maze(*shape, seed=seed)
        g = w.grid
        assert g.shape == shape
        assert g[0].all() and g[-1].all() and g[:, 0].all() and g[:, -1].all()
        free = g == 0
        assert free.any()
        _, n_components = ndimage.label(free)  # 4-connectivity
        assert n_components == 1


def test_random_maze_rejects_bad_arguments():
    with pytest.raises(ValueError, match="3 x 3"):
        random_maze(2, 9, seed=0)
    with pytest.raises(ValueError, match="loop_fraction"):
        random_maze(9, 9, seed=0, loop_fraction=1.5)

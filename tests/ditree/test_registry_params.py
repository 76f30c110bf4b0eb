"""ditree.registry.parse_planner_params: the benchmark scripts' PLANNER:KEY=VALUE options."""

from __future__ import annotations

import pytest

from ditree.registry import parse_planner_params
from envs.errors import DitreeInputError


def test_params_are_grouped_by_planner_and_typed():
    got = parse_planner_params(["sst:connect_tol=0.25", "sst:return_first=false", "ditree:n_chunks=2"])
    assert got == {"sst": {"connect_tol": 0.25, "return_first": False}, "ditree": {"n_chunks": 2}}
    assert parse_planner_params([]) == {}


@pytest.mark.parametrize("spec, message", [
    ("bogus", "expected PLANNER:KEY=VALUE"),
    ("sst:nonsense=1", "planner 'sst' has no such parameter"),
    ("ditree:n_chunks=two", "expected int"),
])
def test_bad_specs_name_what_is_wrong(spec, message):
    with pytest.raises(DitreeInputError, match=message):
        parse_planner_params([spec])

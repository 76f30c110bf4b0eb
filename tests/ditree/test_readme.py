"""The README's Python examples run as written (so the documented API cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    """The README's Python examples, less the files it shows (a block whose first line is ``# examples/...``:
    those are checked against the file and run by their own tests, e.g. tests/ditree/test_custom_robot.py)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [b for b in blocks if not b.startswith("# examples/")]


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 2


@pytest.mark.requires_data  # the examples plan the paper's scenarios
def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the examples write boxes.json into the working folder
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace: dict = {}
    try:
        for block in python_blocks():  # later blocks use names defined by earlier ones
            exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - running our own README
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "ditree boxes: solved" in out, out
    assert (tmp_path / "boxes.json").is_file()
    assert namespace["chunks"].shape == (256, 64, 2)
    assert namespace["states"].shape == (256, 65, 6)
    if not namespace["result"].success:
        pytest.fail(namespace["result"].reason)

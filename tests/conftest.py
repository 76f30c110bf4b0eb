"""Session set-up shared by all tests: the README's example of a user's own robot
(``examples/unicycle.py``, outside the package) is imported, so it is registered before any test
module is collected and every test parametrized over ``registered_robots()`` runs on it too."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.append(str(EXAMPLES))

import unicycle  # noqa: F401  (registers "unicycle")

"""Errors raised for bad input files and values. All are ``ValueError`` subclasses."""

from __future__ import annotations


class DitreeInputError(ValueError):
    """Bad user input: a file, field or value that cannot be used. The message names it."""


class MapFormatError(DitreeInputError):
    """A map file (or array) is malformed: ragged rows, values other than 0/1, empty."""


class ScenarioError(DitreeInputError):
    """A scenario row is malformed or places the start or goal outside the map or in a wall."""


class DataDirError(DitreeInputError):
    """The benchmark data directory, or a suite in it, cannot be found (see ``envs.suites``)."""


class DynobenchFormatError(DitreeInputError):
    """A dynobench instance or solution file (``envs.dynobench``) is malformed; the message names the
    file and the field."""

"""Subcommands of the ``ditree`` CLI, one module each (see ``ditree.cli``)."""

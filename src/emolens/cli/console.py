"""The console every command writes messages and progress to: standard error, so that standard output carries
only results. A module of its own so that helpers can use it without importing the command registry."""

from rich.console import Console

err = Console(stderr=True)

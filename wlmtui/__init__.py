"""wlmtui: a goal-oriented workload manager for Linux with a live terminal console."""

__version__ = "0.1.0"

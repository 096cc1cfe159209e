"""The policy's ``record:`` section: where and how long snapshots are kept.

    record:
      enabled: true        # the daemon (--no-ui) records every tick
      dir: record          # relative paths live in state_dir
      max_age: 7d          # segments older than this are deleted
      max_size: 256MiB     # the whole store; the oldest segments go first
      flush: 10s           # a chunk is written at least this often (the crash loss window)
      samples: false       # keep each transaction's response time (large; percentiles are always kept)

Everything has a default; a policy without the section records to
``<state_dir>/record`` for a week, in at most 256 MiB.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

RECORD_KEYS = ("enabled", "dir", "max_age", "max_size", "flush", "samples")
_AGE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")
_AGE_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|K|M|G)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3,
               "k": 1024, "m": 1024**2, "g": 1024**3}
MIN_SIZE = 1024 * 1024  # below 1 MiB a store holds too few chunks to be of use


def parse_age(text: object) -> float:
    """Seconds from ``"7d"``, ``"12h"``, ``"30m"``, ``"2w"``; bare numbers are seconds."""
    if isinstance(text, bool):
        raise ValueError(f"({text!r}) is not an age (try '7d', '12h' or '30m')")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        match = _AGE_RE.match(str(text))
        if not match:
            raise ValueError(f"({text!r}) is not an age (try '7d', '12h' or '30m')")
        value = float(match.group(1)) * _AGE_UNITS[match.group(2)]
    if value <= 0:
        raise ValueError(f"({text!r}) must be a positive age")
    return value


def parse_size(text: object) -> int:
    """Bytes from ``"256MiB"``, ``"1GB"``, ``"512M"``; bare numbers are bytes."""
    if isinstance(text, bool):
        raise ValueError(f"({text!r}) is not a size (try '256MiB' or '1GiB')")
    match = _SIZE_RE.match(str(text))
    if not match:
        raise ValueError(f"({text!r}) is not a size (try '256MiB' or '1GiB')")
    return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])


@dataclass(frozen=True, slots=True)
class RecordConfig:
    enabled: bool = True
    dir: str = "record"  # relative to state_dir until resolved
    max_age: float = 7 * 86400.0
    max_size: int = 256 * 1024 * 1024
    flush: float = 10.0
    samples: bool = False

    @property
    def segment_size(self) -> int:
        """A new segment starts past this size: retention then frees an eighth of the store at a time."""
        return max(64 * 1024, min(16 * 1024 * 1024, self.max_size // 8))

    @property
    def segment_age(self) -> float:
        """…or past this age (an hour, or less when the whole store keeps less)."""
        return min(3600.0, self.max_age / 4)


def resolve_dir(config: RecordConfig, state_dir: str) -> RecordConfig:
    from dataclasses import replace

    if posixpath.isabs(config.dir):
        return config
    return replace(config, dir=posixpath.join(state_dir, config.dir))


def parse_record(check: Any, node: Any, line: int, state_dir: str) -> RecordConfig:
    """The ``record:`` mapping (``check`` is the policy's problem collector)."""
    if node is None:
        return resolve_dir(RecordConfig(), state_dir)
    if not isinstance(node, dict):
        check.add(line, "record", f"must be a mapping (e.g. {{max_age: 7d, max_size: 256MiB}}), "
                                  f"not {type(node).__name__}")
        return resolve_dir(RecordConfig(), state_dir)
    check.known_keys(node, RECORD_KEYS, "record", line)
    default = RecordConfig()
    values: dict[str, Any] = {}
    for key in ("enabled", "samples"):
        if node.get(key) is not None:
            if isinstance(node[key], bool):
                values[key] = node[key]
            else:
                check.add(check.key_line(node, key, line), f"record.{key}", f"({node[key]!r}) must be true or false")
    directory = check.text(node, "dir", "record.dir", line)
    if directory is not None:
        values["dir"] = directory
    for key, parse, lo in (("max_age", parse_age, 60.0), ("flush", parse_age, 0.0)):
        if node.get(key) is None:
            continue
        where = check.key_line(node, key, line)
        try:
            value = parse(node[key])
        except ValueError as exc:
            check.add(where, f"record.{key}", str(exc))
            continue
        if key == "max_age" and value < lo:
            check.add(where, "record.max_age", f"({node[key]}) must be at least 1m")
        elif key == "flush" and value > 300:
            check.add(where, "record.flush", f"({node[key]}) must be at most 5m (it is how much a crash loses)")
        else:
            values[key] = value
    if node.get("max_size") is not None:
        where = check.key_line(node, "max_size", line)
        try:
            size = parse_size(node["max_size"])
        except ValueError as exc:
            check.add(where, "record.max_size", str(exc))
        else:
            if size < MIN_SIZE:
                check.add(where, "record.max_size", f"({node['max_size']}) must be at least 1MiB")
            else:
                values["max_size"] = size
    from dataclasses import replace

    return resolve_dir(replace(default, **values), state_dir)

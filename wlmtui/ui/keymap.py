"""Remapping the console's keys.

Every console binding has an id (``wlmtui.edit``, ``wlmtui.save`` …, listed
by ``?`` in the console). An optional file
``$XDG_CONFIG_HOME/wlmtui/keymap.yaml`` (``~/.config/wlmtui/keymap.yaml``
when ``XDG_CONFIG_HOME`` is unset) maps ids to keys; several keys are
separated by commas, and the ``wlmtui.`` prefix may be left out::

    # ~/.config/wlmtui/keymap.yaml
    edit: E           # edit the selected class with shift+e instead of e
    pin: ctrl+w
    wlmtui.quit: q,ctrl+q

The file is applied with Textual's ``App.set_keymap``. Unknown ids and
malformed entries are reported in the event log, never fatal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ruamel.yaml import YAML

PREFIX = "wlmtui."


def keymap_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "wlmtui" / "keymap.yaml"


def parse_keymap(data: object, known_ids: Iterable[str], origin: str = "keymap.yaml") -> tuple[dict[str, str], list[str]]:
    """``{binding id: keys}`` from a parsed YAML mapping; returns ``(keymap, problems)``."""
    known = set(known_ids)
    problems: list[str] = []
    keymap: dict[str, str] = {}
    if data is None:
        return keymap, problems
    if not isinstance(data, dict):
        return keymap, [f"{origin}: must be a mapping of binding id to key(s)"]
    for raw_id, raw_keys in data.items():
        bid = str(raw_id)
        if bid not in known and PREFIX + bid in known:
            bid = PREFIX + bid
        if bid not in known:
            problems.append(f"{origin}: unknown binding id {raw_id!r} (known: "
                            f"{', '.join(sorted(k.removeprefix(PREFIX) for k in known))})")
            continue
        if isinstance(raw_keys, list):
            raw_keys = ",".join(str(k) for k in raw_keys)
        keys = ",".join(k.strip() for k in str(raw_keys or "").split(",") if k.strip())
        if not keys:
            problems.append(f"{origin}: {raw_id}: no key given")
            continue
        keymap[bid] = keys
    return keymap, problems


def load_keymap(known_ids: Iterable[str], path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """Read the keymap file if there is one; returns ``(keymap, problems)``."""
    path = path or keymap_path()
    if not path.is_file():
        return {}, []
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: cannot be read ({exc})"]
    except Exception as exc:  # ruamel's error zoo
        return {}, [f"{path}: not valid YAML ({exc.__class__.__name__})"]
    return parse_keymap(data, known_ids, str(path))

"""What the token ledger keeps on disk, under the policy's ``state_dir``.

``<state_dir>/tokens-state.json`` — written atomically once per tick, in ONE
write, so the tailer offsets and the consumption they produced can never
disagree after a crash or restart::

    {"version": 1, "saved_at": 1763780000.0,
     "tailers": {"/run/wlmtui/counters.jsonl":
                   {"path": "...", "offset": 81234, "dev": 2049, "inode": 131,
                    "partial": "<base64 of an unfinished last line>",
                    "head": "<base64 of the first 64 bytes>", "skipping": false,
                    "lines": 812, "malformed": 0, "unknown": 3}},
     "classes": {"llm-agent":
                   {"window": "hour", "tz": null,
                    "window_start": 1763776800.0, "window_end": 1763780400.0,
                    "consumed": 5500.0, "tokens": 5500, "rate": 3.7,
                    "last_tick": 1763779999.0, "signal": "yellow", "pending": 0.0}}}

``<state_dir>/stops/<class>.json`` — an operator's emergency stop (signal
black), one small file per class so ``wlmtui tokens stop`` in another process
never races the loop's own writes. The file's existence is the flag; its
content is informational: ``{"class": "llm-agent", "stopped_at":
"2025-11-22T01:00:00Z", "reason": "runaway agent", "by": "alice"}``. The
file name is the class name percent-encoded (``urllib.parse.quote``) plus
``.json``. :func:`resume` deletes it. The loop reads the directory every tick.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

from wlmtui.tokens.signal_file import atomic_write
from wlmtui.tokens.windows import iso_z

STATE_FILE = "tokens-state.json"
STOP_DIR = "stops"
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class StopFlag:
    cls: str
    stopped_at: str | None = None
    reason: str | None = None
    by: str | None = None


def state_path(state_dir: str) -> str:
    return os.path.join(state_dir, STATE_FILE)


def stop_path(state_dir: str, cls: str) -> str:
    return os.path.join(state_dir, STOP_DIR, quote(cls, safe="") + ".json")


def load_state(state_dir: str) -> tuple[dict, str | None]:
    """``({"tailers": {...}, "classes": {...}}, error)``; empty when missing.

    A corrupt file is reported, set aside as ``tokens-state.json.corrupt``,
    and the ledger starts over from the counter files themselves.
    """
    empty = {"tailers": {}, "classes": {}}
    path = state_path(state_dir)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return empty, None
    except OSError as exc:
        return empty, f"cannot read {path}: {exc.strerror}"
    try:
        doc = json.loads(raw.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
            raise ValueError("unknown layout or version")
        tailers = doc.get("tailers") or {}
        classes = doc.get("classes") or {}
        if not isinstance(tailers, dict) or not isinstance(classes, dict):
            raise ValueError("tailers/classes are not mappings")
    except (UnicodeDecodeError, ValueError) as exc:
        try:
            os.replace(path, path + ".corrupt")
        except OSError:
            pass
        return empty, f"{path} was unreadable ({exc}); moved aside, recounting from the counter files"
    return {"tailers": tailers, "classes": classes}, None


def save_state(state_dir: str, tailers: dict, classes: dict, now: float, *, durable: bool = True) -> None:
    """One atomic write of everything (raises ``OSError``)."""
    doc = {"version": STATE_VERSION, "saved_at": now, "tailers": tailers, "classes": classes}
    atomic_write(state_path(state_dir), json.dumps(doc, separators=(",", ":")).encode("utf-8"),
                 durable=durable, mode=0o600)


# ------------------------------------------------------------ emergency stops


def _who() -> str:
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return str(os.getuid())


def stop(state_dir: str, cls: str, reason: str | None = None, *, by: str | None = None,
         now: float | None = None) -> str:
    """Set the emergency stop for ``cls`` (black until :func:`resume`); the flag's path."""
    moment = time.time() if now is None else now
    doc = {"class": cls, "stopped_at": iso_z(moment), "reason": reason, "by": by or _who()}
    path = stop_path(state_dir, cls)
    atomic_write(path, (json.dumps(doc) + "\n").encode("utf-8"))
    return path


def resume(state_dir: str, cls: str) -> bool:
    """Clear the emergency stop; ``False`` when there was none."""
    try:
        os.unlink(stop_path(state_dir, cls))
    except FileNotFoundError:
        return False
    return True


def stopped_classes(state_dir: str) -> dict[str, StopFlag]:
    """Every class with a stop flag (an unreadable flag still stops its class)."""
    directory = os.path.join(state_dir, STOP_DIR)
    try:
        names = os.listdir(directory)
    except OSError:
        return {}
    flags: dict[str, StopFlag] = {}
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        cls = unquote(name[: -len(".json")])
        info: dict = {}
        try:
            with open(os.path.join(directory, name), "rb") as f:
                loaded = json.loads(f.read(1 << 14).decode("utf-8"))
            if isinstance(loaded, dict):
                info = loaded
        except (OSError, ValueError):
            pass

        def text(key: str) -> str | None:
            value = info.get(key)
            return value if isinstance(value, str) else None

        flags[cls] = StopFlag(cls, text("stopped_at"), text("reason"), text("by"))
    return flags

"""Saving console edits back to the policy file — no Textual in here.

The operator's file is theirs: comments, key order, quoting and layout stay
as they were. :func:`render_updated_yaml` loads the original text with
ruamel.yaml's round-trip loader, changes only the edited fields of the edited
classes (each class found by ``name`` in ``service_classes``) and dumps it
again with the file's own indentation. :func:`atomic_write_with_backup`
writes through a temporary file in the same directory (fsync, ``os.replace``)
after copying the old file to ``<file>.bak``. :class:`FileStamp` records
mtime, size and sha256 so a file changed on disk since it was loaded is
noticed before it would be overwritten.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from wlmtui.policy import Policy, PolicyError, ServiceClass, parse_policy

#: the fields the console can edit, in form order
EDITABLE = ("kp", "ki", "importance", "min_weight", "base_weight", "max_weight", "target",
            "psi_threshold", "budget", "pool")


class SaveError(Exception):
    """Saving failed; the message is fit to show an operator."""


# -- file identity -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FileStamp:
    """What a file looked like when we last read or wrote it."""

    mtime_ns: int
    size: int
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike) -> "FileStamp | None":
        """The stamp of ``path`` now, or ``None`` if it does not exist."""
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                digest = hashlib.sha256(fh.read()).hexdigest()
        except FileNotFoundError:
            return None
        return cls(st.st_mtime_ns, st.st_size, digest)

    @classmethod
    def of_text(cls, text: str, mtime_ns: int = 0) -> "FileStamp":
        data = text.encode("utf-8")
        return cls(mtime_ns, len(data), hashlib.sha256(data).hexdigest())

    def same_content(self, other: "FileStamp | None") -> bool:
        return other is not None and self.size == other.size and self.sha256 == other.sha256


def changed_on_disk(path: str | os.PathLike, stamp: FileStamp | None) -> bool:
    """True when ``path`` is no longer what ``stamp`` recorded.

    A file touched but with identical bytes counts as unchanged; a file that
    vanished counts as changed.
    """
    if stamp is None:
        return False
    now = FileStamp.of(path)
    if now is None:
        return True
    if now == stamp:
        return False
    return not stamp.same_content(now)


# -- what changed --------------------------------------------------------------
def field_values(cls: ServiceClass) -> dict[str, object]:
    """The editable fields of a class, as comparable values."""
    return {
        "kp": cls.gains.kp,
        "ki": cls.gains.ki,
        "importance": cls.importance,
        "min_weight": cls.min_weight,
        "base_weight": cls.base_weight,
        "max_weight": cls.max_weight,
        "target": None if cls.is_token else (cls.goal.value, cls.goal.target),
        "psi_threshold": None if cls.is_token else cls.psi_threshold,
        "budget": (cls.goal.value, cls.goal.window, cls.goal.target) if cls.is_token else None,
        "pool": cls.pool,
    }


def changed_fields(old: ServiceClass, new: ServiceClass) -> set[str]:
    a, b = field_values(old), field_values(new)
    return {k for k in EDITABLE if a[k] != b[k]}


def policy_changes(original: Policy, policy: Policy) -> dict[str, set[str]]:
    """Per class name, the editable fields that differ between two policies."""
    out: dict[str, set[str]] = {}
    for cls in policy.classes:
        old = original.get(cls.name)
        if old is None:
            continue
        fields = changed_fields(old, cls)
        if fields:
            out[cls.name] = fields
    return out


# -- the round trip ------------------------------------------------------------
def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap the operator's long lines
    return y


def detect_indent(text: str) -> tuple[int, int, int]:
    """``(mapping, sequence, offset)`` as ruamel.yaml wants them, read from the text."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping = sequence = None
    offset = 0
    for prev, line in zip(lines, lines[1:]):
        pcol = len(prev) - len(prev.lstrip(" "))
        col = len(line) - len(line.lstrip(" "))
        body = line.lstrip(" ")
        opens_block = re.search(r":\s*(#.*)?$", prev) is not None and not prev.lstrip().startswith("- ")
        if not opens_block or col <= pcol and not body.startswith("-"):
            continue
        if body.startswith("- ") or body == "-":
            if sequence is None:
                rest = body[1:]
                content = col + 1 + (len(rest) - len(rest.lstrip(" ")))
                offset = col - pcol
                sequence = content - pcol
        elif mapping is None and col > pcol:
            mapping = col - pcol
        if mapping is not None and sequence is not None:
            break
    mapping = mapping or 2
    sequence = sequence or max(2, mapping)
    return mapping, sequence, max(0, min(offset, sequence - 2))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else float(value)


def _percent(value: float) -> str:
    return f"{round(value * 100, 6):g}%"


def _insert_after(node: CommentedMap, key: str, value: object, anchors: Iterable[str]) -> None:
    """Set ``node[key]``; a new key goes right after the last present anchor."""
    if key in node:
        node[key] = value
        return
    keys = list(node.keys())
    pos = len(keys)
    for anchor in anchors:
        if anchor in node:
            pos = keys.index(anchor) + 1
    node.insert(pos, key, value)


_WEIGHT_ANCHORS = ("name", "cgroup", "goal", "importance", "min_weight", "base_weight", "max_weight")


def _set_field(node: CommentedMap, cls: ServiceClass, fname: str) -> None:
    if fname in ("kp", "ki"):
        gains = node.get("gains")
        value = _number(getattr(cls.gains, fname))
        if isinstance(gains, dict):
            gains[fname] = value
        else:
            fresh = CommentedMap()
            fresh[fname] = value
            fresh.fa.set_flow_style()
            _insert_after(node, "gains", fresh, _WEIGHT_ANCHORS)
    elif fname == "importance":
        _insert_after(node, "importance", cls.importance, ("name", "cgroup", "goal"))
    elif fname in ("min_weight", "base_weight", "max_weight"):
        _insert_after(node, fname, getattr(cls, fname), _WEIGHT_ANCHORS[: _WEIGHT_ANCHORS.index(fname)])
    elif fname == "psi_threshold":
        old = node.get("psi_threshold")
        value = cls.psi_threshold
        text = _percent(value) if old is None or isinstance(old, str) else float(value)
        _insert_after(node, "psi_threshold", text, ("name", "cgroup", "goal", "importance"))
    elif fname in ("target", "budget"):
        goal = cls.goal
        if goal.type == "token" and ("budget" in node or not isinstance(node.get("goal"), dict)):
            _insert_after(node, "budget", goal.target, ("name", "type", "goal"))
            return
        gnode = node.get("goal")
        if not isinstance(gnode, dict):
            gnode = CommentedMap(type=goal.type)
            _insert_after(node, "goal", gnode, ("name", "cgroup"))
        if goal.type == "velocity" and goal.value is not None:
            gnode["target"] = _number(goal.value)
        else:
            gnode["target"] = goal.target
    elif fname == "pool":
        if cls.pool is None:
            node.pop("pool", None)
        else:
            _insert_after(node, "pool", cls.pool, ("name", "type", "goal", "budget"))
    else:  # pragma: no cover - guarded by EDITABLE
        raise KeyError(fname)


def render_updated_yaml(original_text: str, policy: Policy,
                        only: Mapping[str, Iterable[str]] | None = None) -> str:
    """The original policy text with ``policy``'s edited fields written into it.

    ``only`` names, per class, the fields to write (what the operator edited);
    without it every editable field that differs from what ``original_text``
    says is written. Classes not in the file are ignored; nothing else in the
    text changes. Raises :class:`SaveError` when the text is not a policy
    with a ``service_classes`` list.
    """
    if only is None:
        try:
            original = parse_policy(original_text)
        except PolicyError as exc:
            raise SaveError(f"the file on disk is not a valid policy ({exc.problems[0]})") from None
        only = policy_changes(original, policy)
    todo = {name: set(fields) & set(EDITABLE) for name, fields in only.items()}
    todo = {name: fields for name, fields in todo.items() if fields and policy.get(name) is not None}
    if not todo:
        return original_text
    y = _yaml()
    mapping, sequence, offset = detect_indent(original_text)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    try:
        doc = y.load(original_text)
    except Exception as exc:  # ruamel raises many kinds
        raise SaveError(f"the file on disk is not valid YAML: {exc}") from None
    seq = doc.get("service_classes") if isinstance(doc, dict) else None
    if not isinstance(seq, list):
        raise SaveError("the file on disk has no service_classes list")
    nodes = {n.get("name"): n for n in seq if isinstance(n, dict)}
    for name, fields in todo.items():
        node = nodes.get(name)
        if node is None:
            continue
        cls = policy.get(name)
        for fname in EDITABLE:
            if fname in fields:
                _set_field(node, cls, fname)
    out = io.StringIO()
    y.dump(doc, out)
    text = out.getvalue()
    if original_text.startswith("---") and not text.startswith("---"):
        text = original_text.split("\n", 1)[0] + "\n" + text
    return text


def diff(old_text: str, new_text: str, path: str = "policy.yaml") -> str:
    """A unified diff from the file on disk to what would be written."""
    return "".join(difflib.unified_diff(
        old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
        fromfile=f"{path} (on disk)", tofile=f"{path} (console)",
    ))


# -- writing -------------------------------------------------------------------
def backup_path(path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(path)}.bak")


def atomic_write_with_backup(path: str | os.PathLike, text: str, *, backup: bool = True) -> FileStamp:
    """Write ``text`` to ``path`` atomically; keep the old file as ``<path>.bak``.

    The new content goes to a temporary file in the same directory, is
    fsynced and renamed over the original (``os.replace``), so a reader sees
    the old file or the new one, never half of one. The original's mode is
    kept. Returns the new file's stamp; raises :class:`SaveError`.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    mode = None
    try:
        st = path.stat()
        mode = st.st_mode & 0o7777
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SaveError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if backup and mode is not None:
            shutil.copy2(path, backup_path(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise SaveError(f"cannot write in {directory}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise SaveError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # some filesystems refuse directory fsync; the rename is done
    stamp = FileStamp.of(path)
    assert stamp is not None
    return stamp


def policy_to_yaml(policy: Policy) -> str:
    """A fresh policy text for a policy that has no file (save as …)."""
    lines = ["# wlmtui policy, written by the console", f"interval: {policy.interval:g}s",
             f"backend: {policy.backend}"]
    if policy.cgroup_root:
        lines.append(f"cgroup_root: {policy.cgroup_root}")
    if policy.metrics:
        lines.append(f"metrics: '{policy.metrics}'")
    lines.append("service_classes:")
    y = _yaml()
    y.indent(mapping=2, sequence=4, offset=2)
    seq = []
    for c in policy.classes:
        node = CommentedMap()
        node["name"] = c.name
        if c.cgroup:
            node["cgroup"] = c.cgroup
        goal = CommentedMap(type=c.goal.type)
        if c.goal.type == "velocity" and c.goal.value is not None:
            goal["target"] = _number(c.goal.value)
        elif c.goal.target:
            goal["target"] = c.goal.target
        if c.goal.percentile:
            goal["percentile"] = _number(c.goal.percentile)
        node["goal"] = goal
        node["importance"] = c.importance
        node["min_weight"] = c.min_weight
        node["base_weight"] = c.base_weight
        node["max_weight"] = c.max_weight
        gains = CommentedMap(kp=_number(c.gains.kp), ki=_number(c.gains.ki))
        gains.fa.set_flow_style()
        node["gains"] = gains
        node["max_step"] = _number(c.max_step)
        node["deadband"] = _percent(c.deadband)
        if not c.is_token:
            node["psi_threshold"] = _percent(c.psi_threshold)
        for key in ("signal_file", "counter_file", "pool", "window_tz"):
            if getattr(c, key):
                node[key] = getattr(c, key)
        if c.model_weights:
            node["model_weights"] = CommentedMap((m, _number(w)) for m, w in c.model_weights)
        seq.append(node)
    out = io.StringIO()
    y.dump({"service_classes": seq}, out)
    body = out.getvalue().split("\n", 1)[1]
    return "\n".join(lines) + "\n" + body


class LocalPolicyFiles:
    """The console's file access for saving: this host's files.

    An attached console uses :class:`wlmtui.control.client.RemoteFiles`
    instead (same methods), which has the daemon read and write its own file.
    """

    def read(self, path: str | os.PathLike) -> str:
        return Path(path).read_text(encoding="utf-8")

    def exists(self, path: str | os.PathLike) -> bool:
        return os.path.exists(path)

    def stamp(self, path: str | os.PathLike) -> FileStamp | None:
        return FileStamp.of(path)

    def changed(self, path: str | os.PathLike, stamp: FileStamp | None) -> bool:
        return changed_on_disk(path, stamp)

    def write(self, path: str | os.PathLike, text: str) -> FileStamp:
        return atomic_write_with_backup(path, text)

    def load(self, path: str | os.PathLike) -> Policy:
        from wlmtui.policy import load_policy

        return load_policy(path)

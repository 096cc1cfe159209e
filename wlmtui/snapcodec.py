"""Snapshots as bytes, for the attach socket and the record store.

A snapshot is a tree of our own frozen dataclasses and named tuples; pickle
carries it whole, so the attached console and the replay see exactly the
values the loop published (the ``--json`` document drops detail the
console draws). Reading is restricted: only classes from ``wlmtui`` and a
short list of plain builtins can be rebuilt, so a damaged or hostile file
cannot run code. Only the console side decodes; the daemon never unpickles
what a client sends (client commands are JSON).

Every blob starts with a format tag so a recording made by another wlmtui
version is refused with a clear message instead of a traceback.
"""

from __future__ import annotations

import io
import pickle

from wlmtui import __version__

#: bumped when the pickled shape of a snapshot changes incompatibly
FORMAT = 1
_TAG = b"wlmtui-snap/%d\n" % FORMAT

_SAFE_BUILTINS = frozenset({
    ("builtins", n) for n in ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "int", "float",
                              "bool", "complex", "slice", "range", "object", "getattr")
} | {("collections", "OrderedDict"), ("collections", "deque"), ("copyreg", "_reconstructor"),
     ("types", "MappingProxyType"), ("_collections", "deque")})


class CodecError(ValueError):
    """A blob that is not a snapshot this version can read."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "wlmtui" or module.startswith("wlmtui.") or (module, name) in _SAFE_BUILTINS:
            return super().find_class(module, name)
        raise CodecError(f"refusing to rebuild {module}.{name}")


def dumps(obj) -> bytes:
    """``obj`` (a Snapshot, or anything built of wlmtui types) as tagged bytes."""
    return _TAG + pickle.dumps(obj, protocol=5)


def loads(blob: bytes):
    """The object ``dumps`` wrote; :class:`CodecError` for anything else."""
    if not blob.startswith(_TAG):
        head = blob[:32].split(b"\n", 1)[0]
        if head.startswith(b"wlmtui-snap/"):
            raise CodecError(f"written in snapshot format {head[12:].decode(errors='replace')}, "
                             f"this wlmtui {__version__} reads format {FORMAT}")
        raise CodecError("not a wlmtui snapshot")
    try:
        return _Unpickler(io.BytesIO(blob[len(_TAG):])).load()
    except CodecError:
        raise
    except Exception as exc:  # truncated or corrupted data: one clear error, not a traceback
        raise CodecError(f"damaged snapshot data ({type(exc).__name__}: {exc})") from None

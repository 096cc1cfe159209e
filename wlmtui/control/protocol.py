"""Frames on the control socket.

Every frame is a 4-byte big-endian length, then one kind byte, then the
payload. The daemon sends ``H`` (hello: a :mod:`wlmtui.snapcodec` blob of a
dict), ``S`` (a snapshot, snapcodec) and ``R`` (a reply, JSON). A client
sends only ``C`` frames: JSON command objects. The daemon never unpickles
anything a client sends; the client decodes the daemon's frames with the
restricted unpickler of :mod:`wlmtui.snapcodec`.
"""

from __future__ import annotations

import json
import struct

VERSION = 1
SOCKET_NAME = "control.sock"

HELLO, SNAPSHOT, REPLY, COMMAND = b"H", b"S", b"R", b"C"
#: a client frame larger than this closes the connection (a policy text is far smaller)
MAX_CLIENT_FRAME = 4 << 20
#: the client refuses daemon frames beyond this
MAX_SERVER_FRAME = 256 << 20

_LEN = struct.Struct(">I")


class ProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol."""


def frame(kind: bytes, payload: bytes) -> bytes:
    return _LEN.pack(len(payload) + 1) + kind + payload


def json_frame(kind: bytes, obj: dict) -> bytes:
    return frame(kind, json.dumps(obj, separators=(",", ":")).encode("utf-8"))


class FrameReader:
    """Collects bytes; yields whole frames as ``(kind, payload)``."""

    def __init__(self, limit: int):
        self.limit = limit
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = _LEN.unpack_from(self.buf)
            if n < 1 or n > self.limit:
                raise ProtocolError(f"frame of {n} bytes (limit {self.limit})")
            if len(self.buf) < 4 + n:
                break
            out.append((bytes(self.buf[4:5]), bytes(self.buf[5:4 + n])))
            del self.buf[:4 + n]
        return out


def parse_command(payload: bytes) -> dict:
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"command is not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("op"), str):
        raise ProtocolError("command must be a JSON object with an 'op'")
    return obj

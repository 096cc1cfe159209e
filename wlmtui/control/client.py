"""The attached console's side: :class:`RemoteLoop` stands in for a ControlLoop.

It offers what the console uses of :class:`wlmtui.loop.ControlLoop`
(``policy``, ``host``, ``kernel``, ``backend.kind``, ``interval``,
``wall``, ``dirty``, ``dry_run``, ``tokens``, ``send()``, ``run(stop,
publish)``), so the console runs unchanged on a daemon's snapshot stream.
``send()`` turns the console's command objects into JSON for the daemon;
refusals come back as notes (``on_note(kind, text)``), which the console
shows in its event log. ``policy_files`` is the console's file access for
saving, done by the daemon on its own policy file.

When the daemon goes away, ``run`` keeps trying to reconnect every
``retry`` seconds; ``link_flag`` is ``"RECONNECTING"`` meanwhile and the
console shows it. A restarted daemon counts its ticks from 1 again; the
console's tick numbers carry on from where they were (the history and the
"applied yet?" bookkeeping need them to grow).
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import replace
from types import SimpleNamespace
from typing import Callable

from wlmtui import commands as cmd
from wlmtui import snapcodec
from wlmtui.classify.commands import MoveProcess
from wlmtui.control import protocol as proto
from wlmtui.policy import Policy, PolicyError, Problem, parse_policy

#: how long a console waits for the daemon to answer a save or a file read
REQUEST_TIMEOUT = 5.0


class AttachError(Exception):
    """No daemon answers on the socket (or it speaks another protocol)."""


def _class_fields(cls) -> dict[str, str]:
    """A class's editable fields as the edit form's text (the daemon validates them the same way)."""
    from wlmtui.ui.editing import initial_values

    raw = initial_values(cls)
    for key, value in (("kp", cls.gains.kp), ("ki", cls.gains.ki)):
        if key in raw:
            raw[key] = repr(float(value))  # exact, not the form's 6 significant digits
    return raw


def encode_command(c) -> dict | None:
    """The JSON object for one console command (``None``: nothing to send)."""
    if isinstance(c, cmd.UpdateClass):
        return {"op": "update-class", "name": c.cls.name, "fields": _class_fields(c.cls)}
    if isinstance(c, cmd.Pin):
        return {"op": "pin", "name": c.name, "weight": c.weight}
    if isinstance(c, cmd.Pause):
        return {"op": "pause", "paused": bool(c.paused)}
    if isinstance(c, cmd.Reload):
        return {"op": "reload"}
    if isinstance(c, cmd.EmergencyStop):
        return {"op": "emergency-stop", "name": c.name, "stop": bool(c.stop)}
    if isinstance(c, MoveProcess):
        return {"op": "move-process", "pid": c.pid, "cls": c.cls, "start": c.start}
    raise TypeError(f"cannot send {type(c).__name__} to a daemon")


class RemoteLoop:
    remote = True

    def __init__(self, path: str, *, retry: float = 1.0, connect_timeout: float = 3.0,
                 wall: Callable[[], float] = time.time):
        self.path = path
        self.retry = retry
        self.connect_timeout = connect_timeout
        self.wall = wall
        self.clock = time.monotonic
        self.on_note: Callable[[str, str], None] = self._keep_note
        self.on_link: Callable[[], None] = lambda: None
        self.notes: list[tuple[str, str]] = []
        self.link_flag: str | None = None
        self.last = None
        self.connected = False
        self._sock: socket.socket | None = None
        self._reader: proto.FrameReader | None = None
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, list] = {}  # id -> [Event, reply]; async commands: [None, description]
        self._session: str | None = None
        self._tick_base = 0
        self._last_tick = 0
        self.policy_files = RemoteFiles(self)
        self._adopt_hello(self._connect())

    # -- what the console reads -----------------------------------------------------------
    def _keep_note(self, kind: str, text: str) -> None:
        self.notes.append((kind, text))

    def _note(self, kind: str, text: str) -> None:
        try:
            self.on_note(kind, text)
        except Exception:  # noqa: BLE001 - the console is closing
            pass

    @property
    def readonly(self) -> bool:
        return self.role != "edit"

    def prime(self) -> None:
        """Nothing to prime: the daemon measures."""

    # -- connection ----------------------------------------------------------------------------
    def _connect(self) -> dict:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(self.path)
            reader = proto.FrameReader(proto.MAX_SERVER_FRAME)
            frames: list = []
            while not frames:
                data = sock.recv(1 << 20)
                if not data:
                    sock.close()
                    raise AttachError(f"the daemon at {self.path} closed the connection before saying hello")
                frames = reader.feed(data)
        except FileNotFoundError:
            sock.close()
            raise AttachError(f"no wlmtui daemon listens at {self.path} (no socket there)") from None
        except ConnectionRefusedError:
            sock.close()
            raise AttachError(f"no wlmtui daemon listens at {self.path} (connection refused)") from None
        except socket.timeout:
            sock.close()
            raise AttachError(f"the daemon at {self.path} did not answer within {self.connect_timeout:g}s") from None
        except PermissionError:
            sock.close()
            raise AttachError(f"cannot connect to {self.path}: permission denied") from None
        except OSError as exc:
            sock.close()
            raise AttachError(f"cannot connect to {self.path}: {exc.strerror or exc}") from None
        except proto.ProtocolError as exc:
            sock.close()
            raise AttachError(f"{self.path} does not speak the wlmtui control protocol ({exc})") from None
        kind, payload = frames[0]
        try:
            hello = snapcodec.loads(payload) if kind == proto.HELLO else None
        except snapcodec.CodecError as exc:
            sock.close()
            raise AttachError(f"the daemon at {self.path} sent a hello this wlmtui cannot read: {exc}") from None
        if not isinstance(hello, dict) or hello.get("version") != proto.VERSION:
            sock.close()
            got = hello.get("version") if isinstance(hello, dict) else "?"
            raise AttachError(f"the daemon at {self.path} speaks control protocol {got}, "
                              f"this wlmtui speaks {proto.VERSION}")
        sock.settimeout(0.5)
        self._sock, self._reader = sock, reader
        self._pending_frames = frames[1:]
        self.connected = True
        return hello

    def _adopt_hello(self, hello: dict) -> None:
        if self._session is not None and hello["session"] != self._session:
            self._tick_base = self._last_tick  # a new daemon counts from 1 again
        self._session = hello["session"]
        self.hello = hello
        self.daemon_pid = hello["pid"]
        self.role = hello["role"]
        self.readonly_reason = hello.get("reason") or ""
        self.policy: Policy = hello["policy"]
        self.host, self.kernel = hello["host"], hello["kernel"]
        self.backend = SimpleNamespace(kind=hello["backend_kind"], label=hello["backend_label"])
        self.interval = hello["interval"]
        self.dry_run = hello["dry_run"]
        self.dirty = hello["dirty"]
        self.tokens = True if hello["tokens"] else None
        self.classifier = True if hello["classifier"] else None
        self.policy_files.remember(hello.get("policy_path"), hello.get("policy_text"), hello.get("policy_stamp"))

    def _lost(self, why: str) -> None:
        sock, self._sock = self._sock, None
        self.connected = False
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        for rid, slot in list(self._waiting.items()):
            if slot[0] is not None:
                slot[1] = {"ok": False, "error": f"the daemon connection was lost ({why})"}
                slot[0].set()
        self._waiting.clear()
        if self.link_flag is None:
            self.link_flag = "RECONNECTING"
            self._note("error", f"lost the daemon ({why}); reconnecting to {self.path} every {self.retry:g}s "
                                "(it keeps steering if it still runs)")
            self.on_link()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        self.connected = False

    # -- the console's loop thread -------------------------------------------------------------
    def run(self, stop: threading.Event, publish: Callable, sleep=None) -> None:  # noqa: ARG002
        """Publish the daemon's snapshots until ``stop``; reconnect when it goes away."""
        try:
            while not stop.is_set():
                if self._sock is None:
                    try:
                        hello = self._connect()
                    except AttachError:
                        stop.wait(self.retry)
                        continue
                    self._adopt_hello(hello)
                    self.link_flag = None
                    self._note("info", f"reconnected to the daemon (pid {self.daemon_pid}, {self.role})")
                    self.on_link()
                frames, self._pending_frames = self._pending_frames, []
                if not frames:
                    try:
                        data = self._sock.recv(1 << 20)
                    except socket.timeout:
                        continue
                    except OSError as exc:
                        self._lost(exc.strerror or str(exc))
                        continue
                    if not data:
                        self._lost("it closed the connection")
                        continue
                    try:
                        frames = self._reader.feed(data)
                    except proto.ProtocolError as exc:
                        self._lost(str(exc))
                        continue
                for kind, payload in frames:
                    self._dispatch(kind, payload, publish)
        finally:
            self.close()

    def _dispatch(self, kind: bytes, payload: bytes, publish: Callable) -> None:
        if kind == proto.SNAPSHOT:
            try:
                snap = snapcodec.loads(payload)
            except snapcodec.CodecError as exc:
                self._note("error", f"a snapshot from the daemon could not be read: {exc}")
                return
            if self._tick_base:
                snap = replace(snap, tick=snap.tick + self._tick_base)
            self._last_tick = snap.tick
            self.last = snap
            self.policy, self.dirty, self.interval = snap.policy, snap.dirty, snap.interval
            publish(snap)
        elif kind == proto.REPLY:
            import json

            try:
                reply = json.loads(payload)
            except ValueError:
                return
            slot = self._waiting.pop(reply.get("id"), None)
            if slot is None:
                return
            if slot[0] is None:
                if not reply.get("ok"):
                    self._note("error", f"{slot[1]} refused: {reply.get('error')}")
            else:
                slot[1] = reply
                slot[0].set()

    # -- sending --------------------------------------------------------------------------------
    def _send_obj(self, obj: dict, slot: list) -> int:
        rid = next(self._ids)
        obj = {**obj, "id": rid}
        sock = self._sock
        if sock is None:
            raise AttachError("not connected to the daemon (reconnecting)")
        self._waiting[rid] = slot
        try:
            with self._send_lock:
                sock.sendall(proto.json_frame(proto.COMMAND, obj))
        except OSError as exc:
            self._waiting.pop(rid, None)
            raise AttachError(f"could not reach the daemon: {exc.strerror or exc}") from None
        return rid

    def send(self, command) -> None:
        """Send one console command to the daemon; a refusal comes back as a note."""
        if isinstance(command, cmd.ReplacePolicy):
            if not command.saved:
                self._note("error", "replacing the whole policy is not possible from an attached console")
            return  # saved: the daemon adopted the file it wrote when it saved (RemoteFiles.write)
        obj = encode_command(command)
        try:
            self._send_obj(obj, [None, obj["op"]])
        except AttachError as exc:
            self._note("error", f"{obj['op']} not sent: {exc}")

    def request(self, obj: dict, timeout: float = REQUEST_TIMEOUT) -> dict:
        """Send and wait for the reply (``run`` must be reading). AttachError when there is none."""
        slot = [threading.Event(), None]
        rid = self._send_obj(obj, slot)
        if not slot[0].wait(timeout):
            self._waiting.pop(rid, None)
            raise AttachError(f"the daemon did not answer within {timeout:g}s")
        return slot[1]


class RemoteFiles:
    """The console's policy file access, done by the daemon (see ``wlmtui.ui.policy_save.LocalPolicyFiles``)."""

    def __init__(self, remote: RemoteLoop):
        self.remote = remote
        self.path: str | None = None
        self.text: str | None = None
        self._stamp = None
        self._written: str | None = None

    def remember(self, path: str | None, text: str | None, stamp: dict | None) -> None:
        from wlmtui.ui.policy_save import FileStamp

        self.path, self.text = path, text
        self._stamp = None if stamp is None else FileStamp(stamp["mtime_ns"], stamp["size"], stamp["sha256"])

    def _only(self, path) -> None:
        if self.path is None:
            raise OSError("the daemon runs a built-in policy without a file; an attached console cannot save it")
        if str(path) != self.path:
            raise OSError(f"an attached console saves only the daemon's policy file {self.path}")

    def _fetch(self) -> None:
        try:
            reply = self.remote.request({"op": "policy-file"})
        except AttachError as exc:
            raise OSError(str(exc)) from None
        if not reply.get("ok"):
            raise OSError(reply.get("error") or "refused")
        self.remember(reply["path"], reply["text"], reply["stamp"])

    def read(self, path) -> str:
        self._only(path)
        self._fetch()
        if self.text is None:
            raise FileNotFoundError(f"{path} (on the daemon's host) does not exist or cannot be read")
        return self.text

    def exists(self, path) -> bool:
        return str(path) == self.path and self._stamp is not None

    def stamp(self, path):
        return self._stamp if str(path) == self.path else None

    def changed(self, path, stamp) -> bool:
        """Compared with what the daemon read last (``read`` fetched it just before)."""
        if stamp is None:
            return False
        return not stamp.same_content(self.stamp(path))

    def write(self, path, text: str):
        from wlmtui.ui.policy_save import FileStamp, SaveError

        try:
            self._only(path)
        except OSError as exc:
            raise SaveError(str(exc)) from None
        base = self._stamp.sha256 if self._stamp is not None else None
        try:
            reply = self.remote.request({"op": "save", "text": text, "base_sha256": base})
        except AttachError as exc:
            raise SaveError(f"the daemon did not save it: {exc}") from None
        if not reply.get("ok"):
            raise SaveError(f"the daemon refused: {reply.get('error')}")
        s = reply["stamp"]
        self.text, self._written = text, text
        self._stamp = FileStamp(s["mtime_ns"], s["size"], s["sha256"])
        return self._stamp

    def load(self, path) -> Policy:
        text = self._written if self._written is not None and str(path) == self.path else self.text
        if text is None:
            raise PolicyError([Problem(str(path), 0, "", "is not known to this console (the daemon did not send it)")])
        return replace(parse_policy(text, str(path)), source=str(path))

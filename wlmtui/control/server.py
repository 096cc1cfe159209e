"""The daemon's side of the control socket.

A thread with a selector serves ``<state_dir>/control.sock``; the loop
thread only hands it each new snapshot (:meth:`ControlServer.publish`: a
reference and one byte on a wake-up pipe), so serving never blocks or
slows the loop. Snapshots are encoded in this thread, once per tick
whoever listens, and only when somebody does. A client gets the latest
snapshot whenever it has read the previous one: a slow client skips
intermediate ticks; nothing backs up.

Commands arrive as JSON and are turned into the loop's own command objects
(``loop.send``), checked first the way the console checks them: a class
edit goes through the edit form's validation (:func:`wlmtui.ui.editing.validate`,
i.e. the policy parser), a save through the policy parser and
:func:`wlmtui.ui.policy_save.atomic_write_with_backup` (``.bak``, temp file +
rename) into the daemon's own policy file, which the daemon then adopts.
Peers the permission check does not allow to edit get every snapshot and
a refusal for every change.
"""

from __future__ import annotations

import hashlib
import os
import selectors
import socket
import threading
import uuid
from collections import deque

from wlmtui import __version__, snapcodec
from wlmtui import commands as cmd
from wlmtui.classify.commands import MoveProcess
from wlmtui.control import protocol as proto
from wlmtui.control.peer import Peer, PermissionCheck, Verdict, default_check, peer_of
from wlmtui.policy import WEIGHT_MAX, WEIGHT_MIN, PolicyError, load_policy, parse_policy

#: control frames (hello, replies) queued for one client before it counts as stuck and is dropped
MAX_QUEUED = 256
#: the mutating operations (refused to read-only peers)
EDIT_OPS = frozenset({"update-class", "pin", "pause", "reload", "emergency-stop", "move-process", "save"})


class ControlError(Exception):
    """The socket could not be served (path too long, directory not writable …)."""


class Refused(Exception):
    """A command that is not carried out; the message goes back to the client."""


def socket_path(state_dir: str) -> str:
    return os.path.join(state_dir, proto.SOCKET_NAME)


class _Client:
    __slots__ = ("sock", "peer", "verdict", "reader", "out", "sending", "sent_seq", "events")

    def __init__(self, sock: socket.socket, peer: Peer, verdict: Verdict):
        self.sock, self.peer, self.verdict = sock, peer, verdict
        self.reader = proto.FrameReader(proto.MAX_CLIENT_FRAME)
        self.out: deque[bytes] = deque()
        self.sending: memoryview | None = None
        self.sent_seq = 0
        self.events = 0


def _text_stamp(path: str) -> tuple[str | None, dict | None]:
    """The policy file's text and stamp (sha256, size, mtime), or (None, None)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            data = fh.read()
    except OSError:
        return None, None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, None
    return text, {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "mtime_ns": st.st_mtime_ns}


def _want(obj: dict, key: str, types, what: str, *, none: bool = False):
    value = obj.get(key)
    if value is None and none:
        return None
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise Refused(f"{key} must be {what}")
    if not isinstance(value, types):
        raise Refused(f"{key} must be {what}")
    return value


class ControlServer:
    def __init__(self, loop, path: str, *, check: PermissionCheck = default_check):
        self.loop = loop
        self.path = path
        self.check = check
        self.session = uuid.uuid4().hex
        self._sel = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._clients: dict[int, _Client] = {}
        self._latest = None  # (seq, Snapshot)
        self._encoded: tuple[int, bytes] | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.encode_count = 0  # snapshots encoded (for the bench and tests)

    # -- life ------------------------------------------------------------------------
    def start(self) -> "ControlServer":
        if len(os.fsencode(self.path)) >= 108:
            raise ControlError(f"control socket path {self.path} is too long for a Unix socket (max 107 bytes)")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                os.unlink(self.path)  # a socket left by a daemon that died; we hold the state lock
            except FileNotFoundError:
                pass
            sock.bind(self.path)
            os.chmod(self.path, 0o666)  # anyone may connect and read; the peer check decides who edits
            sock.listen(16)
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot serve the control socket {self.path}: {exc.strerror}") from None
        sock.setblocking(False)
        self._listener = sock
        self._sel.register(sock, selectors.EVENT_READ, None)
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._serve, name="wlmtui-control", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, hang up on every client, remove the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(5)
        for c in list(self._clients.values()):
            self._drop(c)
        if self._listener is not None:
            try:
                self._sel.unregister(self._listener)
            except (KeyError, ValueError):
                pass
            self._listener.close()
            self._listener = None
            try:
                os.unlink(self.path)
            except OSError:
                pass
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._sel.close()

    @property
    def clients(self) -> int:
        return len(self._clients)

    # -- the loop thread's one call ----------------------------------------------------
    def publish(self, snap) -> None:
        """Called by the loop thread after each tick: remember it, wake the server."""
        with self._lock:
            self._seq += 1
            self._latest = (self._seq, snap)
        if self._clients:
            self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (pipe full) or closing

    # -- the server thread ---------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, mask in self._sel.select(timeout=1.0):
                if key.data == "wake":
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    self._want_snapshots()
                elif key.data is None:
                    self._accept()
                else:
                    client = key.data
                    if mask & selectors.EVENT_READ:
                        self._read(client)
                    if mask & selectors.EVENT_WRITE and client.sock.fileno() in self._clients:
                        self._write(client)

    def _accept(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except (BlockingIOError, OSError):
            return
        conn.setblocking(False)
        try:
            peer = peer_of(conn)
            verdict = self.check(peer, getattr(self.loop.policy, "control_group", None))
        except OSError:
            conn.close()
            return
        client = _Client(conn, peer, verdict)
        self._clients[conn.fileno()] = client
        self._sel.register(conn, selectors.EVENT_READ, client)
        client.out.append(proto.frame(proto.HELLO, snapcodec.dumps(self._hello(client))))
        self._want_snapshots()

    def _hello(self, client: _Client) -> dict:
        loop = self.loop
        policy = loop.policy
        text, stamp = _text_stamp(policy.source) if policy.source else (None, None)
        return {
            "version": proto.VERSION, "wlmtui": __version__, "session": self.session, "pid": os.getpid(),
            "role": "edit" if client.verdict.edit else "read", "reason": client.verdict.reason,
            "peer_uid": client.peer.uid, "policy": policy, "policy_path": policy.source,
            "policy_text": text, "policy_stamp": stamp, "host": loop.host, "kernel": loop.kernel,
            "backend_kind": loop.backend.kind, "backend_label": loop.backend.label,
            "interval": loop.interval, "dry_run": loop.dry_run, "dirty": loop.dirty,
            "tokens": loop.tokens is not None, "classifier": loop.classifier is not None,
        }

    def _want_snapshots(self) -> None:
        latest = self._latest
        for c in list(self._clients.values()):
            if c.out or c.sending is not None or (latest is not None and c.sent_seq < latest[0]):
                self._interest(c, True)

    def _interest(self, c: _Client, write: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if write else 0)
        try:
            self._sel.modify(c.sock, events, c)
        except (KeyError, ValueError, OSError):
            pass

    def _drop(self, c: _Client) -> None:
        self._clients.pop(c.sock.fileno(), None)
        try:
            self._sel.unregister(c.sock)
        except (KeyError, ValueError, OSError):
            pass
        c.sock.close()

    def _next_frame(self, c: _Client) -> memoryview | None:
        if c.out:
            return memoryview(c.out.popleft())
        with self._lock:
            latest = self._latest
        if latest is None or c.sent_seq >= latest[0]:
            return None
        seq, snap = latest
        if self._encoded is None or self._encoded[0] != seq:
            self._encoded = (seq, proto.frame(proto.SNAPSHOT, snapcodec.dumps(snap)))
            self.encode_count += 1
        c.sent_seq = seq
        return memoryview(self._encoded[1])

    def _write(self, c: _Client) -> None:
        while True:
            if c.sending is None:
                c.sending = self._next_frame(c)
                if c.sending is None:
                    self._interest(c, False)
                    return
            try:
                n = c.sock.send(c.sending)
            except BlockingIOError:
                return
            except OSError:
                self._drop(c)
                return
            c.sending = c.sending[n:] if n < len(c.sending) else None
            if c.sending is not None:
                return

    def _read(self, c: _Client) -> None:
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(c)
            return
        try:
            frames = c.reader.feed(data)
        except proto.ProtocolError:
            self._drop(c)
            return
        for kind, payload in frames:
            if kind != proto.COMMAND:
                self._drop(c)
                return
            try:
                obj = proto.parse_command(payload)
            except proto.ProtocolError as exc:
                self._reply(c, None, error=str(exc))
                continue
            try:
                extra = self.handle(obj, c.verdict)
                self._reply(c, obj.get("id"), **(extra or {}))
            except Refused as exc:
                self._reply(c, obj.get("id"), error=str(exc))
        if len(c.out) > MAX_QUEUED:
            self._drop(c)  # sends commands, never reads replies
            return
        if c.out:
            self._interest(c, True)

    def _reply(self, c: _Client, rid, *, error: str | None = None, **extra) -> None:
        body = {"id": rid if isinstance(rid, (int, str)) else None, "ok": error is None, **extra}
        if error is not None:
            body["error"] = error
        c.out.append(proto.json_frame(proto.REPLY, body))

    # -- commands ----------------------------------------------------------------------------
    def handle(self, obj: dict, verdict: Verdict) -> dict | None:
        """Carry out one command object; :class:`Refused` says why not. Returns reply fields."""
        op = obj["op"]
        if op == "policy-file":
            return self._policy_file()
        if op not in EDIT_OPS:
            raise Refused(f"unknown command {op!r}")
        if not verdict.edit:
            raise Refused(verdict.reason or "read-only")
        loop = self.loop
        if op == "update-class":
            name = _want(obj, "name", str, "a class name")
            fields = obj.get("fields")
            if not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in fields.items()):
                raise Refused("fields must be an object of field name -> text")
            from wlmtui.ui.editing import form_fields, validate  # no Textual in there

            current = loop.policy.get(name)
            if current is None:
                raise Refused(f"no class named {name!r}")
            allowed = {f.key for f in form_fields(current)}
            unknown = sorted(set(fields) - allowed)
            if unknown:
                raise Refused(f"{name}: cannot edit {', '.join(unknown)} (editable: {', '.join(sorted(allowed))})")
            result = validate(current, fields)
            if not result.ok:
                problems = [f"{k} {m}" for k, m in result.errors.items()] + list(result.general)
                raise Refused(f"{name}: " + "; ".join(problems))
            loop.send(cmd.UpdateClass(result.cls))
        elif op == "pin":
            name = _want(obj, "name", str, "a class name")
            weight = _want(obj, "weight", int, f"a whole number {WEIGHT_MIN}..{WEIGHT_MAX} or null", none=True)
            if weight is not None and not WEIGHT_MIN <= weight <= WEIGHT_MAX:
                raise Refused(f"weight must be {WEIGHT_MIN}..{WEIGHT_MAX}, not {weight}")
            if loop.policy.get(name) is None:
                raise Refused(f"no class named {name!r}")
            loop.send(cmd.Pin(name, weight))
        elif op == "pause":
            loop.send(cmd.Pause(_want(obj, "paused", bool, "true or false")))
        elif op == "reload":
            if loop.policy.source is None:
                raise Refused("the daemon's policy has no file to reload from")
            loop.send(cmd.Reload())
        elif op == "emergency-stop":
            name = _want(obj, "name", str, "a class name")
            loop.send(cmd.EmergencyStop(name, _want(obj, "stop", bool, "true or false")))
        elif op == "move-process":
            pid = _want(obj, "pid", int, "a process id")
            target = _want(obj, "cls", str, "a class name or null", none=True)
            start = _want(obj, "start", int, "a start time or null", none=True)
            loop.send(MoveProcess(pid, target, start))
        elif op == "save":
            return self._save(obj)
        return None

    def _policy_file(self) -> dict:
        path = self.loop.policy.source
        if path is None:
            return {"path": None, "text": None, "stamp": None}
        text, stamp = _text_stamp(path)
        return {"path": path, "text": text, "stamp": stamp}

    def _save(self, obj: dict) -> dict:
        from wlmtui.ui.policy_save import SaveError, atomic_write_with_backup, backup_path

        text = _want(obj, "text", str, "the new policy text")
        base = _want(obj, "base_sha256", str, "the sha256 of the text the edits were made on", none=True)
        path = self.loop.policy.source
        if path is None:
            raise Refused("the daemon's policy has no file (it runs a built-in policy); nothing to save to")
        _, stamp = _text_stamp(path)
        if base is not None and (stamp is None or stamp["sha256"] != base):
            what = "was deleted" if stamp is None else "changed on disk"
            raise Refused(f"{path} {what} since the console read it; press r to reload it, then edit again")
        try:
            parse_policy(text, path)
        except PolicyError as exc:
            raise Refused(f"the result would not be a valid policy: {exc.problems[0]}") from None
        had_file = stamp is not None
        try:
            new = atomic_write_with_backup(path, text)
        except SaveError as exc:
            raise Refused(str(exc)) from None
        try:
            saved = load_policy(path)
        except PolicyError as exc:
            raise Refused(f"{path} was written but does not load: {exc.problems[0]}") from None
        self.loop.send(cmd.ReplacePolicy(saved, saved=True))
        return {"path": path, "stamp": {"sha256": new.sha256, "size": new.size, "mtime_ns": new.mtime_ns},
                "backup": str(backup_path(path)) if had_file else None}

"""Running under systemd: readiness and watchdog notifications, journal detection.

``sd_notify`` is written here rather than taken from a package: it is one
datagram to ``$NOTIFY_SOCKET`` (a filesystem path, or an abstract socket
when it starts with ``@``), and owning it lets the watchdog pacing, the
reload handshake and the tests see exactly what is sent. Every function
is a no-op when systemd did not ask for notifications.

The protocol as wlmtui follows it (``Type=notify``):

* ``READY=1`` after the first tick has been measured, decided and written;
* ``WATCHDOG=1`` from the loop thread after a tick, at most every
  ``WATCHDOG_USEC / 2`` — a hung loop stops pinging and systemd kills it;
* ``RELOADING=1`` with ``MONOTONIC_USEC`` when SIGHUP asks for a reload,
  then ``READY=1`` once the tick that applied it has been published;
* ``STOPPING=1`` when a stop signal arrives.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Callable, Mapping, TextIO

from wlmtui.snapshot import Snapshot


def notify_address(env: Mapping[str, str]) -> str | bytes | None:
    """Where ``$NOTIFY_SOCKET`` points: a path, an abstract name (bytes), or None."""
    path = env.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):
        return b"\0" + path[1:].encode()
    if not path.startswith("/"):
        return None  # vsock and other families are not for a local daemon
    return path


def sd_notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one notification; False when there is nowhere to send it or sending failed."""
    address = notify_address(os.environ if env is None else env)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError:
        return False


def watchdog_usec(env: Mapping[str, str], pid: int | None = None) -> int | None:
    """The watchdog period systemd expects pings within, if it is meant for this process."""
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return usec


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Notifier:
    """What the headless daemon tells systemd, paced by an injected clock.

    ``after_tick`` is the loop's publish hook (called on the loop thread);
    ``reloading`` and ``stopping`` are called from the signal handlers.
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, clock: Callable[[], float] = time.monotonic,
                 send: Callable[[str], bool] | None = None, pid: int | None = None):
        env = dict(os.environ if env is None else env)
        self.enabled = notify_address(env) is not None
        self.clock = clock
        self._send = send or (lambda message: sd_notify(message, env))
        usec = watchdog_usec(env, pid) if self.enabled else None
        #: seconds between watchdog pings (half the period systemd allows), or None
        self.ping_every = None if usec is None else usec / 2e6
        self.ready = False
        self._reload_pending = False
        self._last_ping: float | None = None

    def send(self, *fields: str) -> bool:
        return self.enabled and self._send("\n".join(fields))

    def watchdog_warning(self, interval: float) -> str | None:
        """A one-line warning when ticks are too far apart for the watchdog."""
        if self.ping_every is not None and interval > self.ping_every:
            return (f"tick interval {interval:g}s is longer than half the systemd watchdog "
                    f"({self.ping_every * 2:g}s): raise WatchdogSec= or systemd may kill a healthy daemon")
        return None

    def after_tick(self, snap: Snapshot) -> None:
        if not self.enabled:
            return
        if not self.ready:
            self.ready = True
            self.send("READY=1", f"STATUS={status_line(snap)}")
        elif self._reload_pending and _reload_done(snap):
            self._reload_pending = False
            self.send("READY=1", f"STATUS={status_line(snap)}")
        now = self.clock()
        if self.ping_every is not None and (self._last_ping is None or now - self._last_ping >= self.ping_every):
            self._last_ping = now
            self.send("WATCHDOG=1")

    def reloading(self) -> None:
        self._reload_pending = True
        self.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec()}", "STATUS=reloading the policy")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")


def _reload_done(snap: Snapshot) -> bool:
    """Whether this tick applied a reload (the loop reports success or refusal as an event)."""
    return any(e.kind == "reload" or (e.kind == "error" and e.text.startswith("reload")) for e in snap.events)


def status_line(snap: Snapshot) -> str:
    """A short ``STATUS=`` text for ``systemctl status``."""
    classes = snap.decision.classes
    missing = [c.name for c in classes if c.status == "missing"]
    text = f"tick {snap.tick}: {len(classes)} classes"
    if missing:
        text += f", missing goal: {', '.join(missing[:3])}" + (" …" if len(missing) > 3 else "")
    else:
        text += ", all goals met or idle"
    return text + (" (paused)" if snap.paused else "")


# -- the journal ---------------------------------------------------------------
def stream_is_journal(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journal stream systemd connected (``$JOURNAL_STREAM`` = dev:inode)."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(part) for part in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    except Exception:  # io.UnsupportedOperation (captured streams) and the like
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def under_systemd(env: Mapping[str, str] | None = None) -> bool:
    """Whether systemd started this process as (part of) a unit."""
    env = os.environ if env is None else env
    return bool(env.get("INVOCATION_ID") or env.get("NOTIFY_SOCKET"))

"""The headless daemon's control socket, for the life of its loop."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from wlmtui.control.server import ControlError, ControlServer, socket_path


@contextmanager
def serving(loop, check=None) -> Iterator[list]:
    """Serve ``<state_dir>/control.sock``; yields the receivers to publish each snapshot to.

    A socket that cannot be served is reported once and the daemon runs
    without it (steering matters more than being watched).
    """
    kw = {} if check is None else {"check": check}
    server = ControlServer(loop, socket_path(loop.policy.state_dir), **kw)
    try:
        server.start()
    except ControlError as exc:
        print(f"wlmtui: {exc}; running without `wlmtui attach`", file=sys.stderr)
        yield []
        return
    print(f"wlmtui: control socket {server.path}: `wlmtui attach` runs the console on this daemon",
          file=sys.stderr, flush=True)
    try:
        yield [server.publish]
    finally:
        server.close()

"""``wlmtui install-unit``: write the systemd unit with this install's paths.

    wlmtui install-unit [--policy P] [--prefix DIR] [--exec CMD] [--dry-run]

The unit template is ``wlmtui/data/wlmtui.service`` (the repository's
``packaging/systemd/wlmtui.service`` is the same template rendered with
``/usr/bin/env wlmtui``). The file is written atomically (temp + rename)
to ``<prefix>/etc/systemd/system/wlmtui.service``; then the two commands
that enable it are printed. ``--dry-run`` prints the unit instead.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from importlib import resources
from pathlib import Path

UNIT_NAME = "wlmtui.service"
UNIT_DIR = "etc/systemd/system"
DEFAULT_POLICY = "/etc/wlmtui/policy.yaml"
REPO_EXEC = "/usr/bin/env wlmtui"


class UnitError(Exception):
    pass


def template() -> str:
    return resources.files("wlmtui.data").joinpath(UNIT_NAME).read_text(encoding="utf-8")


def _quote(value: str) -> str:
    """A path as systemd's command-line and condition parsing wants it."""
    if any(c in value for c in " \t\"'\\;$%"):
        raise UnitError(f"path {value!r} has characters a unit file would need escaped; use a plainer path")
    return value


def render(exec_cmd: str, policy: str) -> str:
    return template().replace("@EXEC@", exec_cmd).replace("@POLICY@", _quote(policy))


def resolved_exec() -> str:
    """The absolute path of this install's ``wlmtui`` (script beside the interpreter, then $PATH)."""
    beside = Path(sys.executable).with_name("wlmtui")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("wlmtui")
    if found:
        return os.path.abspath(found)
    return f"{_quote(sys.executable)} -m wlmtui"


def atomic_write(path: Path, text: str) -> None:
    """Write the unit atomically (the policy saver's temp + fsync + rename)."""
    from wlmtui.ui.policy_save import SaveError, atomic_write_with_backup

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_with_backup(path, text, backup=False)
    except OSError as exc:
        raise UnitError(f"cannot write in {path.parent}: {(exc.strerror or str(exc)).lower()}") from None
    except SaveError as exc:
        raise UnitError(str(exc)) from None


def run_install_unit(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="wlmtui install-unit",
                                description="Write the systemd unit for this wlmtui install.")
    p.add_argument("--policy", default=DEFAULT_POLICY, metavar="FILE",
                   help=f"policy the service runs (default {DEFAULT_POLICY})")
    p.add_argument("--prefix", default="/", metavar="DIR", help="root to install under (default /)")
    p.add_argument("--exec", dest="exec_cmd", metavar="CMD",
                   help="command that starts wlmtui (default: this install's wlmtui, resolved)")
    p.add_argument("--dry-run", action="store_true", help="print the unit instead of writing it")
    args = p.parse_args(argv)
    policy = os.path.abspath(args.policy)
    try:
        exec_cmd = args.exec_cmd or resolved_exec()
        if not os.path.isabs(shlex.split(exec_cmd)[0]):
            raise UnitError(f"--exec {exec_cmd!r}: systemd needs an absolute path to the program")
        text = render(exec_cmd, policy)
        if args.dry_run:
            sys.stdout.write(text)
            return 0
        target = Path(args.prefix) / UNIT_DIR / UNIT_NAME
        atomic_write(target, text)
    except (UnitError, ValueError) as exc:
        print(f"wlmtui: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {target}")
    if not os.path.exists(policy):
        print(f"note: {policy} does not exist yet; the service will not start until it does "
              "(see sample_policies/)")
    print("enable it with:\n  systemctl daemon-reload && systemctl enable --now wlmtui")
    return 0

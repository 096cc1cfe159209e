"""Output helpers shared by the benches: Markdown tables and a machine line."""

from __future__ import annotations

import os
import platform
import sys
import time


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown pipe table (pastes straight into BENCHMARKS.md)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _cgroup_layout() -> str:
    try:
        from bench.cgroups import NoCgroups, layout

        kind, hierarchies, _ = layout()
        return f"{'pure cgroup v2' if kind == 'v2' else 'hybrid (v1 cpu + unified v2)'}: {', '.join(hierarchies)}"
    except NoCgroups as exc:
        return f"real cgroups unusable ({exc})"
    except Exception as exc:  # noqa: BLE001 - informational only
        return f"unknown ({exc})"


def _commit() -> str:
    """The wlmtui commit measured, ``+changes`` when wlmtui/ differs from it."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=root, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "wlmtui"], capture_output=True, text=True,
                               cwd=root, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" +changes in wlmtui/" if dirty else "")


def machine() -> dict:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "host": platform.node(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "cgroups": _cgroup_layout(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "commit": _commit(),
    }


def machine_line() -> str:
    m = machine()
    return (f"{m['date']} · {m['cpu']} × {m['cores']} · Linux {m['kernel']} · Python {m['python']} · "
            f"{m['cgroups']} · load {m['load']} · wlmtui {m['commit']}")

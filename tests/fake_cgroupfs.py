"""A directory tree that looks like cgroupfs, for backend tests.

``FakeCgroupFs(tmp_path / "cg")`` lays out a v2 root (``cgroup.controllers``,
``cgroup.subtree_control``, ``cpu.stat``, ``*.pressure``); ``add("wlm/batch")``
makes a class cgroup with ``cpu.weight`` and counters; ``bump`` advances its
counters *in place* (same inode), as the kernel does, so descriptors the
backend keeps open see the new values. ``flavour="v1"`` makes a v1 cpu
hierarchy instead (``cpu.shares``, no PSI); ``controllers=""`` a hybrid
host's unified mount (counters, no ``cpu.weight``). ``proc_pressure`` is a fake
``/proc/pressure``.

What the fake cannot do is react to writes: a ``mkdir`` by the backend makes
a bare directory; call ``add`` on it to play the kernel's part.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PRESSURE_FILES = ("cpu.pressure", "memory.pressure", "io.pressure")


def pressure_text(some: int = 0, full: int = 0, avg10: float = 0.0) -> str:
    return (f"some avg10={avg10:.2f} avg60=0.00 avg300=0.00 total={some}\n"
            f"full avg10=0.00 avg60=0.00 avg300=0.00 total={full}\n")


def cpu_stat_text(usage: int) -> str:
    return f"usage_usec {usage}\nuser_usec {usage * 2 // 3}\nsystem_usec {usage - usage * 2 // 3}\nnice_usec 0\n"


def _rewrite(path: Path, text: str) -> None:
    with open(path, "r+", encoding="ascii") as fh:  # keep the inode, like the kernel
        fh.truncate(0)
        fh.write(text)


class FakeCgroupFs:
    def __init__(self, root: Path, *, flavour: str = "v2", controllers: str = "cpu io memory") -> None:
        self.root = Path(root)
        self.flavour = flavour
        self.controllers = controllers
        self.proc_pressure = self.root.parent / f"{self.root.name}-proc-pressure"
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc_pressure.mkdir(exist_ok=True)
        self._populate(self.root, weight=None)
        for res in ("cpu", "memory", "io"):
            (self.proc_pressure / res).write_text(pressure_text())
        self.counters: dict[str, dict[str, int]] = {}

    def path(self, rel: str = "") -> Path:
        return self.root / rel if rel else self.root

    def _populate(self, d: Path, weight: int | None) -> None:
        files: dict[str, str] = {"cgroup.procs": ""}
        if self.flavour == "v1":
            if weight is not None:
                files["cpu.shares"] = "1024\n"
        else:
            files |= {"cgroup.controllers": self.controllers + "\n", "cgroup.subtree_control": "",
                      "cpu.stat": cpu_stat_text(0)}
            files |= {name: pressure_text() for name in PRESSURE_FILES}
            if weight is not None and "cpu" in self.controllers.split():
                files["cpu.weight"] = f"{weight}\n"
        for name, text in files.items():
            if not (d / name).exists():
                (d / name).write_text(text)

    def add(self, rel: str, *, weight: int = 100) -> Path:
        """Make (or fill, if the backend made it) a class cgroup and its parents."""
        d = self.root
        for part in rel.split("/"):
            d = d / part
            d.mkdir(exist_ok=True)
            self._populate(d, weight)
        self.counters[rel] = {"usage": 0, "cpu": 0, "cpu_full": 0, "memory": 0, "io": 0}
        return d

    def bump(self, rel: str, *, usage: int = 0, cpu: int = 0, cpu_full: int = 0, memory: int = 0, io: int = 0) -> None:
        """Advance a cgroup's cumulative counters by the given µs."""
        c = self.counters[rel]
        for key, value in (("usage", usage), ("cpu", cpu), ("cpu_full", cpu_full), ("memory", memory), ("io", io)):
            c[key] += value
        d = self.path(rel)
        _rewrite(d / "cpu.stat", cpu_stat_text(c["usage"]))
        _rewrite(d / "cpu.pressure", pressure_text(c["cpu"], c["cpu_full"]))
        _rewrite(d / "memory.pressure", pressure_text(c["memory"]))
        _rewrite(d / "io.pressure", pressure_text(c["io"]))

    def write(self, rel: str, name: str, text: str) -> None:
        """Replace a file's content in place (e.g. with malformed lines)."""
        _rewrite(self.path(rel) / name, text)

    def read(self, rel: str, name: str) -> str:
        return (self.path(rel) / name).read_text()

    def remove(self, rel: str) -> None:
        """The cgroup vanishes (as after ``rmdir``)."""
        shutil.rmtree(self.path(rel))
        self.counters.pop(rel, None)

    def set_system(self, res: str, some: int, full: int = 0) -> None:
        _rewrite(self.proc_pressure / res, pressure_text(some, full))

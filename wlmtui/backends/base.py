"""The contract every backend keeps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Mapping

from wlmtui.observation import RawSample


class BackendError(Exception):
    """The backend cannot run at all (no usable hierarchy, no permission)."""


class ActuatorError(Exception):
    """One write failed (cgroup gone, read-only file); the loop carries on."""


class Backend(ABC):
    #: "v2", "v1" or "sim"
    kind: str = ""
    #: shown in the console header and headless start line
    label: str = ""

    @abstractmethod
    def attach(self, cgroups: Mapping[str, str], *, create: bool = True) -> list[str]:
        """Bind class names to cgroup paths (relative to the cgroup root).

        Creates missing cgroups when ``create``; returns human warnings for
        classes whose cgroup is missing. May be called again on reload.
        Raises :class:`BackendError` when nothing can work.
        """

    @abstractmethod
    def sample(self, now: float) -> RawSample:
        """Read every attached class's counters and the system pressure."""

    @abstractmethod
    def read_weight(self, name: str) -> int | None:
        """The weight currently in force for a class (``None`` if unknown)."""

    @abstractmethod
    def set_weight(self, name: str, weight: int) -> None:
        """Write a weight (1–10000 scale); raise :class:`ActuatorError` on failure."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release file descriptors and other resources."""

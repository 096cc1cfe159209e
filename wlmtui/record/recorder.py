"""The daemon's recorder: snapshots go to a writer thread through a bounded queue.

``publish(snap)`` costs the control loop one ``put_nowait``; encoding,
compression and the disk happen on the writer thread. When the queue is
full (a stalled disk) the snapshot is dropped and counted, never waited
for; the first drop and every failure is reported once through ``report``.
A store that cannot be written stops the recording, not the loop.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable

from wlmtui.record.config import RecordConfig
from wlmtui.record.store import StoreError, StoreWriter
from wlmtui.snapshot import Snapshot

QUEUE_SIZE = 1024
_STOP = object()


class Recorder:
    def __init__(self, config: RecordConfig, report: Callable[[str], None] | None = None,
                 queue_size: int = QUEUE_SIZE):
        self.config = config
        self.report = report or (lambda text: None)
        self.dropped = 0
        self.failed: str | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.writer = StoreWriter(config)  # raises StoreError when the directory cannot be made
        self._thread = threading.Thread(target=self._run, name="wlmtui-recorder", daemon=True)
        self._thread.start()

    def publish(self, snap: Snapshot) -> None:
        if self.failed is not None:
            return
        try:
            self._queue.put_nowait(snap)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1:
                self.report("recording: the writer is behind; dropping snapshots (counted) rather than "
                            "delaying the loop")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            if self.failed is not None:
                continue
            try:
                self.writer.add(item)
            except StoreError as exc:
                self._fail(str(exc))
            except Exception as exc:  # noqa: BLE001 - the loop keeps running; say why recording stopped
                self._fail(f"{type(exc).__name__}: {exc}")

    def _fail(self, text: str) -> None:
        self.failed = text
        self.report(f"recording stopped: {text}")

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and the last partial chunk, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.report(f"recording: the writer did not finish within {timeout:g}s; the last chunk is lost")
            return
        if self.failed is None:
            try:
                self.writer.close()
            except StoreError as exc:
                self._fail(str(exc))
        if self.dropped:
            self.report(f"recording: {self.dropped} snapshot(s) dropped while the writer was behind")

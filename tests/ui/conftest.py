import time

import pytest


@pytest.fixture(autouse=True)
def _fixed_environment(monkeypatch):
    """Same time zone and no personal keymap or themes, on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent/wlmtui-test-config")
    yield
    monkeypatch.undo()
    time.tzset()

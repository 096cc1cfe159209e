import os
import pickle

import pytest

from tests.loop_util import sim_loop, ticks
from wlmtui.cli import demo_policy
from wlmtui import snapcodec


def _snapshot():
    loop, clock = sim_loop(demo_policy())
    return ticks(loop, clock, 5)[-1]


def test_a_snapshot_round_trips_equal():
    snap = _snapshot()
    back = snapcodec.loads(snapcodec.dumps(snap))
    assert back == snap
    assert back.to_json() == snap.to_json()


def test_a_foreign_class_is_refused_not_rebuilt():
    blob = snapcodec._TAG + pickle.dumps(os.system)
    with pytest.raises(snapcodec.CodecError, match="refusing to rebuild"):
        snapcodec.loads(blob)


def test_damaged_and_untagged_data_get_one_clear_error():
    blob = snapcodec.dumps(_snapshot())
    with pytest.raises(snapcodec.CodecError, match="damaged"):
        snapcodec.loads(blob[: len(blob) // 2])
    with pytest.raises(snapcodec.CodecError, match="not a wlmtui snapshot"):
        snapcodec.loads(b"hello")
    with pytest.raises(snapcodec.CodecError, match="format 99"):
        snapcodec.loads(b"wlmtui-snap/99\n...")

"""Record & replay: every snapshot the daemon publishes, kept in a bounded store.

``config``   the policy's ``record:`` section (validated with file:line errors)
``store``    segment files of compressed chunks; writer with rotation and retention, reader with an index
``recorder`` a writer thread with a bounded queue, so the control loop never waits for the disk
``replay``   a recording opened for reading: frames by position, seeking by time, ``--at`` parsing
``cli``      ``wlmtui replay``
"""

"""One module per console panel; each takes a Snapshot and draws it."""

"""The control socket: a headless daemon's snapshots out, operator commands in.

``protocol`` frames bytes, ``peer`` decides who may edit, ``server`` runs in
the daemon, ``client`` is the attached console's side (``RemoteLoop``).
"""

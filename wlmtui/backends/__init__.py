"""Backends hide the host: real cgroups (v2, hybrid v1) or the simulated host."""

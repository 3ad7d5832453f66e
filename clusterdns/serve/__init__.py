"""How the zone is served: wire format, UDP and TCP, forwarding, reloads and workers.

Thin shells around the pure zone package; everything here moves bytes or watches files.
"""

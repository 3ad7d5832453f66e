"""What the manifests mean in DNS: the zone built from the model, and answers from it. Pure.

No sockets, files or clocks below this package, so every rule is testable as a function.
"""

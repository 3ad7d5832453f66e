"""Fuzzing the real server: `harness` makes and judges packets, `campaign` runs it long."""

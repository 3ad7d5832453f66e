"""The one compiled part, declared here because pyproject.toml cannot declare it.

`clusterdns.serve._batchloop` answers stored UDP replies on native threads, off the
interpreter lock. It is optional: where there is no compiler or no Python headers (python:3.11-slim, the
Dockerfile's base) the build skips it with a warning, pip still succeeds, and
serve/batch.py answers through ctypes instead.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("clusterdns.serve._batchloop",
                             ["clusterdns/serve/_batchloop.c"], optional=True)])

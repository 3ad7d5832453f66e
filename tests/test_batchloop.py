"""The C part (serve/_batchloop.c: the answering threads) is built wherever it can be.

setup.py declares it optional, so that an install without a compiler still succeeds; a
build that broke would then show only as a slower server whose answers wait for
reloads. Here it fails instead, wherever there is a compiler to build it with. Its
answers are tested over real sockets in integration/test_udp.py, beside the Python
loop's, and its parts in test_native.py.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sysconfig
from pathlib import Path

import pytest

from clusterdns.serve.batch import compiled_available


def compiler() -> str | None:
    """The C compiler an install would build with (CC, else Python's own), if present."""
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(shlex.split(command)[0])


def test_the_c_loop_is_built_where_there_is_a_compiler() -> None:
    if compiler() is None:
        pytest.skip("no C compiler here: UDP batches are answered in Python")
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    assert compiled_available(), (
        "clusterdns.serve._batchloop does not import although there is a compiler: "
        "`pip install -v -e .` shows why it was not built"
        + ("" if headers.exists() else f" (no {headers}: install Python's headers)"))

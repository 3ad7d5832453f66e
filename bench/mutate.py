"""Mutation testing: small deliberate bugs in the pure core and the wire code, one at a
time, each run against the tests of its module. A mutant the tests do not notice (a
survivor) is a behaviour no test pins down.

    .venv/bin/python bench/mutate.py [--seconds 900] [--module clusterdns/zone/answer.py]...

Each mutant changes one thing: a comparison (== and !=, < and <=, in and not in, ...),
`and`/`or`, a `not` dropped, True/False swapped, a small number off by one, `+`/`-`, or a
statement that calls something replaced by `pass`. The tree is copied to a temporary
folder first, so the checkout is never touched; mutants run in a random order (fixed
seed) until the time is up. Prints one line per survivor and the score.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The modules mutated, each with the tests that should notice: the pure core and the wire.
TARGETS: dict[str, list[str]] = {
    "clusterdns/zone/answer.py": ["tests/test_answer.py"],
    "clusterdns/zone/build.py": ["tests/test_zone.py", "tests/test_answer.py",
                                 "tests/test_diagnostics.py", "tests/test_zone_hostnames.py"],
    "clusterdns/zone/hostnames.py": ["tests/test_zone_hostnames.py"],
    "clusterdns/zone/explain.py": ["tests/test_explain.py"],
    "clusterdns/source/hostnames.py": ["tests/test_hostnames.py"],
    "clusterdns/zone/diagnostics.py": ["tests/test_diagnostics.py"],
    "clusterdns/zone/records.py": ["tests/test_answer.py", "tests/test_wire.py"],
    "clusterdns/serve/wire.py": ["tests/test_wire.py", "tests/test_packed.py",
                                 "tests/test_message.py"],
    "clusterdns/serve/message.py": ["tests/test_message.py", "tests/test_wire.py"],
    "clusterdns/serve/names.py": ["tests/test_names.py", "tests/test_message.py"],
    "clusterdns/serve/forwarded.py": ["tests/test_forwarded.py"],
    "clusterdns/serve/rrl.py": ["tests/test_rrl.py"],
    "clusterdns/serve/packed.py": ["tests/test_packed.py", "tests/test_native.py"],
    "clusterdns/serve/cache.py": ["tests/test_cache.py"],
    "clusterdns/source/addresses.py": ["tests/test_addresses.py"],
    "clusterdns/source/workloads.py": ["tests/test_workloads.py"],
    "clusterdns/source/state.py": ["tests/test_state.py"],
    "clusterdns/source/documents.py": ["tests/test_documents.py"],
}

SWAPS: dict[type, type] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
    ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot,
    ast.IsNot: ast.Is, ast.And: ast.Or, ast.Or: ast.And, ast.Add: ast.Sub, ast.Sub: ast.Add,
}


@dataclass(frozen=True)
class Mutant:
    file: str
    index: int  # which mutation site in the file, in walk order
    line: int
    what: str


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every place one mutation can go, with a description."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) in SWAPS:
                    yield op, f"{type(op).__name__} -> {SWAPS[type(op)].__name__}"
        elif isinstance(node, ast.BoolOp | ast.BinOp) and type(node.op) in SWAPS:
            yield node.op, f"{type(node.op).__name__} -> {SWAPS[type(node.op)].__name__}"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node, "drop `not`"
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield node, f"{node.value} -> {not node.value}"
        elif (isinstance(node, ast.Constant) and type(node.value) is int
              and 0 <= node.value <= 1024):
            yield node, f"{node.value} -> {node.value + 1}"
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            yield node, "call -> pass"


class _Apply(ast.NodeTransformer):
    """Applies the mutation at one site (by identity) and leaves the rest alone."""

    def __init__(self, target: ast.AST) -> None:
        self.target = target

    def generic_visit(self, node: ast.AST) -> ast.AST:
        node = super().generic_visit(node)
        if node is not self.target:
            return node
        if type(node) in SWAPS:
            return SWAPS[type(node)]()
        if isinstance(node, ast.UnaryOp):
            return node.operand
        if isinstance(node, ast.Constant):
            value = node.value
            return ast.Constant(not value if isinstance(value, bool) else value + 1)
        return ast.Pass()


def mutants(files: list[str], root: Path) -> list[Mutant]:
    found = []
    for file in files:
        tree = ast.parse((root / file).read_text())
        for index, (node, what) in enumerate(_sites(tree)):
            line = getattr(node, "lineno", None) or _line_of(tree, node)
            found.append(Mutant(file, index, line, what))
    return found


def _line_of(tree: ast.AST, target: ast.AST) -> int:
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            if child is target:
                return getattr(node, "lineno", 0)
    return 0


def mutated_source(mutant: Mutant, original: str) -> str:
    tree = ast.parse(original)
    target = list(_sites(tree))[mutant.index][0]
    return ast.unparse(ast.fix_missing_locations(_Apply(target).visit(tree)))


def run(mutant: Mutant, copy: Path, timeout: float) -> str:
    """'killed', 'survived' or 'timeout' for one mutant, in the copy of the tree."""
    path = copy / mutant.file
    original = path.read_text()
    path.write_text(mutated_source(mutant, original))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             *TARGETS[mutant.file]], cwd=copy, capture_output=True, timeout=timeout,
            env={**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"})
        return "survived" if result.returncode == 0 else "killed"
    except subprocess.TimeoutExpired:
        return "timeout"  # an endless loop counts as noticed
    finally:
        path.write_text(original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--module", action="append", choices=sorted(TARGETS))
    parser.add_argument("--timeout", type=float, default=60.0, help="per mutant")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    files = args.module or sorted(TARGETS)
    deadline = time.monotonic() + args.seconds
    outcomes: dict[str, list[Mutant]] = {"killed": [], "survived": [], "timeout": []}
    with tempfile.TemporaryDirectory(prefix="clusterdns-mutate-") as tmp:
        # Everything is read from this copy, so edits to the checkout meanwhile change
        # nothing in a campaign under way.
        copy = Path(tmp)
        shutil.copytree(ROOT / "clusterdns", copy / "clusterdns")
        shutil.copytree(ROOT / "tests", copy / "tests")
        shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
        todo = mutants(files, copy)
        random.Random(args.seed).shuffle(todo)
        for mutant in todo:
            if time.monotonic() > deadline:
                break
            outcome = run(mutant, copy, args.timeout)
            outcomes[outcome].append(mutant)
            if outcome == "survived":
                print(f"survived: {mutant.file}:{mutant.line}: {mutant.what}", flush=True)
    tried = sum(map(len, outcomes.values()))
    noticed = len(outcomes["killed"]) + len(outcomes["timeout"])
    print(f"{tried} of {len(todo)} mutants tried in {files if args.module else 'all targets'}:"
          f" {noticed} noticed ({len(outcomes['timeout'])} by timeout), "
          f"{len(outcomes['survived'])} survived; score {noticed / max(tried, 1):.1%}")


if __name__ == "__main__":
    main()

"""Every writer of the package goes through the one output policy (issue 18).

The write primitives (``to_csv``, ``write_text``, ``write_bytes``, ``json.dump``,
``savefig``, ``torch.save``, ``to_zarr``, ``open(..., "w")``, ``rasterio.open(..., "w")``)
are enumerated from the package's source.  Outside the modules that own the policy
(:mod:`xlandslide.io.atomic` and the writers built on it: stores, maps, classed maps,
checkpoints, figures, JSON records, the lock, the manifest), a primitive may only write to
``tmp`` — the temporary sibling that :func:`~xlandslide.io.atomic.atomic_output` yields and
moves into place — so that every output is checked before any work, atomic, locked, and
never replaces an input or a user's file.  The adversarial cases of each command family
(input as output, a user's file or folder, inside a store, a concurrent writer, an
unwritable folder) are in ``tests/test_cli_trust.py`` and ``tests/test_faults_*.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import xlandslide

PACKAGE = Path(xlandslide.__file__).parent
#: The owners of the output policy (each writes through its own temporary + rename).
OWNERS = {
    "io/atomic.py",
    "io/lock.py",
    "io/store.py",
    "io/integrity.py",
    "io/maps.py",
    "io/resumable.py",
    "io/classed.py",
    "io/cog.py",  # the COG of a map or class map, into the temporary of its writer
    "checkpoint.py",
    "plot/_base.py",
    "patches/splits.py",  # JsonRecord.to_json: atomic
}
PRIMITIVES = {"to_csv", "write_text", "write_bytes", "dump", "savefig", "save", "to_zarr"}


def _writes(tree):
    """(line, call, first argument's source) of every write primitive in ``tree``."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        mode = next((a for a in node.args[1:2] if isinstance(a, ast.Constant)), None)
        opening = name == "open" and mode is not None and str(mode.value)[:1] in "wax"
        if name in PRIMITIVES or opening:
            owner = getattr(getattr(f, "value", None), "id", None)
            if (name == "dump" and owner != "json") or (name == "save" and owner != "torch"):
                continue
            if name in ("write_text", "write_bytes"):
                target = ast.unparse(f.value)
            else:
                target = ast.unparse(node.args[0]) if node.args else ""
                if name == "dump" and len(node.args) > 1:
                    target = ast.unparse(node.args[1])
            yield node.lineno, name, target


def test_every_writer_outside_the_policy_writes_a_temporary():
    found, offenders = 0, []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for line, name, target in _writes(ast.parse(path.read_text())):
            found += 1
            if rel in OWNERS:
                continue
            if not (target == "tmp" or target.startswith("tmp ") or target.startswith("tmp/")):
                offenders.append(f"{rel}:{line}: {name}({target})")
    assert found >= 15  # the enumeration sees the package's writers
    assert not offenders, "writes outside atomic_output:\n" + "\n".join(offenders)

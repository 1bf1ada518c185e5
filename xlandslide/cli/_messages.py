"""Errors worded for the command line: the library's messages name Python fixes
(``overwrite=True``, ``region.isel(...)``, ``label_column=``); a command-line user needs the
option or the TOML key.  :func:`cli_wording` rewrites a message with :data:`CLI_FIXES`."""

from __future__ import annotations

import re

#: (pattern, replacement): a Python-worded fix and its command-line wording, in order.
CLI_FIXES = (
    (r"pass overwrite=True \((?:or )?--overwrite\)", "pass --overwrite"),
    (r"overwrite=True \((?:or )?--overwrite\)", "--overwrite"),
    (r"overwrite=True", "--overwrite"),
    (r"pass foreign=True", "pass --foreign"),
    (r"need block_size=\.\.\. \(metres", "need --block-size METRES (in metres"),
    (r"use device='cpu' or None \(automatic\)", "use --device cpu (or leave --device out)"),
    (r"write with resume=False to start again", "run it again without --resume to start again"),
    (
        r"label_column=\.\.\.",
        'column = "NAME" in the [labels] table of the TOML file',
    ),
    (r"label_column=('[^']*'|\"[^\"]*\")", r"column = \1 ([labels] in the TOML file)"),
    (r"drop label_column", "drop column from [labels] in the TOML file"),
    (
        r"reproject=True \(reproject = true in the config\)",
        "reproject = true in the layer's TOML table",
    ),
    (r"build_region\(\.\.\., reproject=True\)", "reproject = true in the layer's TOML table"),
    (
        r"make_patches\(region, PatchGeometry\(core=(\d+), halo=(\d+)\)\)",
        r"--core \1 --halo \2",
    ),
    (r"\(PatchGeometry\(core=\.\.\., halo=(\d+)\)\)", r"(--halo \1)"),
    (
        r"\(region\.isel\(layer=\.\.\.\)\)",
        "(ingest the region with the model's layers, in its order)",
    ),
    (
        r"region = region\.landslide\.with_offsets\(\(30, 100, 300\)\)",
        "`xlandslide offsets STORE --out NEW` adds them",
    ),
)
_COMPILED = tuple((re.compile(p), r) for p, r in CLI_FIXES)


def cli_wording(message: str) -> str:
    """``message`` with its Python-worded fixes replaced by the command line's.

    >>> cli_wording("'m.tif' exists; pass overwrite=True (or --overwrite) to replace it")
    "'m.tif' exists; pass --overwrite to replace it"
    """
    for pattern, replacement in _COMPILED:
        message = pattern.sub(replacement, message)
    return message


__all__ = ["CLI_FIXES", "cli_wording"]

"""Sphinx configuration of the xlandslide documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, installed or not

import xlandslide  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")

project = "xlandslide"
author = "xlandslide developers"
copyright = "xlandslide developers"
version = release = xlandslide.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinxarg.ext",
]

exclude_patterns = ["_build", "_generated"]
root_doc = "index"
default_role = "py:obj"

# API: one page per public name, written at build time into api/generated (not committed)
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set = set()

# Only the standard library is linked (no network is needed for the build)
intersphinx_mapping: dict = {}

html_theme = "pydata_sphinx_theme"
html_title = f"xlandslide {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list = []
html_show_sourcelink = False


# --- tables read from the code at build time (the registry and the presets change; the
# docs follow).  Written to _generated/ (not committed), pulled in with ``.. include::``.


def _table(header, rows) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines += [("     - " if k else "   * - ") + str(c) for k, c in enumerate(row)]
    return "\n".join(lines) + "\n"


def _write_generated() -> None:
    from xlandslide.models import MODELS
    from xlandslide.train.presets import DEFAULT_MODEL_CONFIG, DEFAULT_SETTINGS

    out = Path(__file__).parent / "_generated"
    out.mkdir(exist_ok=True)
    rows = []
    for e in MODELS.values():
        paper = "{} {} {} {}".format(*e.paper) if e.paper else "--"
        rows.append(
            [
                f"``{e.name}``",
                e.description,
                "yes" if e.needs_offsets else "no",
                "per pixel" if e.pixelwise else "tiles (U-Net)",
                e.backend,
                f"``{e.base}``" if e.base else "--",
                paper,
            ]
        )
    header = ["name", "what", "aligned", "prediction", "backend", "base", "Table 1 (paper)"]
    (out / "models.rst").write_text(_table(header, rows))
    rows = []
    for name, settings in DEFAULT_SETTINGS.items():
        text = ", ".join(f"``{k}={v!r}``" for k, v in settings.items())
        extra = DEFAULT_MODEL_CONFIG.get(name)
        model = ", ".join(f"``{k}={v!r}``" for k, v in extra.items()) if extra else "--"
        rows.append([f"``{name}``", text, model])
    (out / "defaults.rst").write_text(
        _table(["model", "TrainConfig.default(model)", "model options added by fit"], rows)
    )


_write_generated()

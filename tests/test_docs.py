"""The docs site's API reference lists every public name of the package (``docs/api.rst``)."""

from __future__ import annotations

import re
from pathlib import Path

import xlandslide

API = Path(__file__).resolve().parent.parent / "docs" / "api.rst"
#: Documented in the constants table of api.rst rather than with their own page.
CONSTANTS = {
    "CORE",
    "FEATURE_NAMES",
    "HALO",
    "INSPIRE",
    "LABEL_LANDSLIDE",
    "LABEL_STABLE",
    "LABEL_UNKNOWN",
    "NODATA_CODE",
}


def test_api_reference_lists_every_public_name():
    text = API.read_text()
    listed = set(re.findall(r"^   ([A-Za-z_][\w.]*)$", text, flags=re.M))
    constants = {name for name in CONSTANTS if f"``{name}``" in text}
    public = set(xlandslide.__all__) - {"__version__"}
    assert sorted(public - listed - constants) == []
    assert sorted(CONSTANTS - constants) == []
    unknown = {n for n in listed if "." not in n} - public
    assert sorted(unknown) == []

"""The docs site's API reference lists every public name of the package (``docs/api.rst``)."""

from __future__ import annotations

import inspect
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


#: Public names still without Examples (none now).  The test below fails when one of them
#: gains its Examples, so that this set only shrinks: remove the name then.
PENDING: set[str] = set()

_SECTION = re.compile(r"^Examples\n-{8}\n(.*?)(?=^[A-Z][A-Za-z ]*\n-{3,}\n|\Z)", re.M | re.S)


def _has_examples(obj) -> bool:
    """Whether ``obj``'s docstring has a numpydoc ``Examples`` section with a ``>>>`` line."""
    section = _SECTION.search(inspect.getdoc(obj) or "")
    return section is not None and re.search(r"^>>> ", section.group(1), re.M) is not None


def _public_callables() -> dict:
    """The functions and classes of ``xlandslide.__all__``, exceptions and warnings excepted."""
    out = {}
    for name in sorted(set(xlandslide.__all__) - CONSTANTS - {"__version__"}):
        obj = getattr(xlandslide, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            continue
        assert inspect.isfunction(obj) or inspect.isclass(obj), f"{name}: {type(obj).__name__}"
        out[name] = obj
    return out


def test_examples_section_detection():
    def with_examples():
        """Do it.

        Examples
        --------
        >>> 1 + 1
        2
        """

    def with_prose_only():
        """Do it; ``>>> x`` in prose.

        Examples
        --------
        See the user guide.

        Notes
        -----
        >>> 1
        1
        """

    assert _has_examples(with_examples)
    assert not _has_examples(with_prose_only)
    assert not _has_examples(_has_examples)


def test_every_public_function_and_class_has_examples():
    public = _public_callables()
    assert sorted(PENDING - set(public)) == []  # a pending name that is no longer public
    missing = sorted(n for n, obj in public.items() if not _has_examples(obj))
    assert [n for n in missing if n not in PENDING] == []
    done = sorted(PENDING - set(missing))
    assert done == [], f"these names have Examples now; remove them from PENDING: {done}"

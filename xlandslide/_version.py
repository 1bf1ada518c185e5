"""The package version: one owner, at the bottom of the import floors.

The package root (``xlandslide.__version__``), checkpoints, store manifests, map tags and the
command line all read it from here, so nothing below the root imports the root for it.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("xlandslide")
except metadata.PackageNotFoundError:  # pragma: no cover - a source tree, not installed
    __version__ = "0.2.0.dev0"


def package_version() -> str:
    """The installed xlandslide version (package metadata), else the source tree's."""
    return __version__


__all__ = ["__version__", "package_version"]

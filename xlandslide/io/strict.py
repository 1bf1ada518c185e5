"""A zarr store on which reading a missing chunk of a listed array raises (never a fill
value): :class:`~xlandslide.errors.IncompleteStoreError` naming the store, array and chunk."""

from __future__ import annotations

from ..errors import IncompleteStoreError


def chunk_of(key: str) -> tuple[str, tuple[int, ...]] | None:
    """``(array, chunk index)`` of a chunk key of the default v3 encoding (``a/c/0/1``)."""
    if key.endswith("/c"):
        return key[:-2], ()
    head, sep, tail = key.partition("/c/")
    if not sep or "/" in head:
        return None
    try:
        return head, tuple(int(i) for i in tail.split("/"))
    except ValueError:
        return None


def _strict_store_class():
    from zarr.storage import WrapperStore

    class _Strict(WrapperStore):
        """A zarr store on which reading a missing chunk of a listed array raises."""

        def __init__(self, store, arrays=(), label=""):
            super().__init__(store)
            self._arrays = frozenset(arrays)
            self._label = label

        def _with_store(self, store):
            return type(self)(store, self._arrays, self._label)

        def __reduce__(self):
            return (StrictStore, (self._store, tuple(self._arrays), self._label))

        def _missing(self, key):
            where = chunk_of(key)
            if where is not None and where[0] in self._arrays:
                name, idx = where
                raise IncompleteStoreError(
                    f"chunk {idx} of {name!r} in the store {self._label!r} is missing (file "
                    f"{key}): the store was damaged after it was written; restore it from a "
                    "copy or write it again (a missing chunk is never read as fill values)"
                )

        async def get(self, key, prototype, byte_range=None):
            value = await self._store.get(key, prototype, byte_range)
            if value is None:
                self._missing(key)
            return value

        async def get_partial_values(self, prototype, key_ranges):
            key_ranges = list(key_ranges)
            values = await self._store.get_partial_values(prototype, key_ranges)
            for (key, _), value in zip(key_ranges, values):
                if value is None:
                    self._missing(key)
            return values

    return _Strict


_STRICT = None


def StrictStore(store, arrays=(), label=""):
    """Wrap a zarr store so that reading a missing chunk of one of ``arrays`` raises."""
    global _STRICT
    if _STRICT is None:
        _STRICT = _strict_store_class()
    return _STRICT(store, arrays, label)


__all__ = ["StrictStore", "chunk_of"]

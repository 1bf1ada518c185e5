"""``--scheduler``: the dask.distributed cluster a command computes on.

:func:`dask_client` opens the ``Client`` of ``--scheduler`` for the length of a command (a
``with`` block, closed at its end, a local cluster shut down with it).  Inside, the client
is dask's default scheduler: every map the command computes runs on its workers; ``train``
and ``cv`` also hand it to :func:`xlandslide.fit` / :func:`xlandslide.cross_validate` as
``client=``, so the models whose registry entry ``trains_on_cluster`` train there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConfigError, MissingOptionalDependency

#: ``--scheduler local:N``: a LocalCluster of N worker processes.
LOCAL = "local:"


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise MissingOptionalDependency(
            "--scheduler needs dask.distributed, which is not installed: "
            'pip install "dask[distributed]"'
        ) from None
    return distributed


def _local_workers(address: str) -> int:
    text = address[len(LOCAL) :]
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            f"--scheduler {address!r}: 'local:N' takes a positive number of worker processes, "
            "e.g. --scheduler local:2"
        )
    return int(text)


def _connect(distributed, address: str):
    import dask

    try:
        return distributed.Client(address)
    except (OSError, ValueError) as err:  # a closed port, an unknown host, a malformed address
        timeout = dask.config.get("distributed.comm.timeouts.connect")
        raise ConfigError(
            f"--scheduler {address!r}: no dask scheduler answered there (within {timeout}: "
            f"{' '.join(str(err).split())}); start one (`dask scheduler` prints its address, "
            "e.g. tcp://10.0.0.5:8786) and pass that address, or pass --scheduler local:N to "
            "start N worker processes here"
        ) from None


@contextmanager
def dask_client(address: str | None) -> Iterator[object]:
    """The ``distributed.Client`` of ``--scheduler ADDRESS`` (``None`` without one), dask's
    default scheduler until the block ends; ``local:N`` starts (and then stops) a
    LocalCluster of N worker processes.

    Raises
    ------
    ConfigError
        A malformed address, or no scheduler reached within dask's connect timeout
        (``distributed.comm.timeouts.connect``).
    MissingOptionalDependency
        dask.distributed is not installed.
    """
    if address is None:
        yield None
        return
    distributed = _import_distributed()
    if address.startswith(LOCAL):
        n = _local_workers(address)
        cluster = distributed.LocalCluster(n_workers=n, processes=True, dashboard_address=":0")
        with cluster, distributed.Client(cluster) as client:
            print(f"a local Dask cluster of {n} worker processes ({client.scheduler.address})")
            yield client
        return
    with _connect(distributed, address) as client:
        print(f"computing on the Dask cluster at {client.scheduler.address}")
        yield client


def cluster_keywords(client, entry) -> dict:
    """``{"client": client}`` for a model whose entry ``trains_on_cluster``; else nothing
    (said in a line when there is a client: the model trains in this process)."""
    if client is None:
        return {}
    if entry.trains_on_cluster:
        return {"client": client}
    from ..models import cluster_models

    print(
        f"the {entry.name} model trains in this process (those that train on the cluster's "
        f"workers: {', '.join(cluster_models())}); the cluster computes the rest"
    )
    return {}


__all__ = ["LOCAL", "cluster_keywords", "dask_client"]

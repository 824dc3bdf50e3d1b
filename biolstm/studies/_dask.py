"""Dask worker preparation (imported only when a sweep runs on a Dask cluster).

Dask runs tasks in worker threads, but importing Brian2 installs a SIGINT handler, which
Python allows only in the main thread. :class:`PrepareWorker` therefore imports Brian2
(and the sweep's plugin modules) when it is registered on a worker, in the worker's
event-loop thread, so that the tasks later find it imported.
"""

from __future__ import annotations

import importlib

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["PrepareWorker"]


class PrepareWorker(WorkerPlugin):
    """Import Brian2, the built-in runners/metrics and ``plugins`` on every worker."""

    name = "biolstm-prepare-worker"

    def __init__(self, plugins: list[str]) -> None:
        self.plugins = list(plugins)

    def setup(self, worker) -> None:
        importlib.import_module("brian2")
        from biolstm.studies.registry import import_plugins

        import_plugins(self.plugins)

"""Benchmarks: pagedlist next to each backend's raw round trip and its native feed design.

``pagedlist bench URL`` (see :mod:`pagedlist.bench.command`) runs the workloads of
:mod:`pagedlist.bench.workloads` against three subjects on the same store, in the same run:

* ``pagedlist``: a :class:`~pagedlist.core.pagedlist.PagedList` on the store;
* ``raw``: the store's bare primitive for the same work (one conditional append on a fresh
  key, one batch get of the very pages pagedlist reads): pagedlist's floor;
* ``native:*``: what a user would write without pagedlist on that backend (one item per
  entry with a sort key, a Redis list or stream...): see :mod:`pagedlist.bench.native`.

Nothing here is imported by ``import pagedlist``; matplotlib is imported only to draw plots.
"""

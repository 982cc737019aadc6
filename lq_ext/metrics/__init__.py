"""Cost metrics of binary networks: parameters, MACs, BOPs, FLOPs, OPs, ACE, memory.

- :func:`profile` counts (:mod:`lq_ext.metrics.profile`), returning a :class:`ModelCost`;
- :func:`summary` prints it as a table (:mod:`lq_ext.metrics.table`);
- :class:`LayerCost` / :class:`ModelCost` hold the counts and derive BOPs, FLOPs and
  OPs (:mod:`lq_ext.metrics.cost`, which documents the conventions);
- :mod:`lq_ext.precision` maps quantizers to bit widths and precision classes.
"""

from lq_ext.metrics.cost import LayerCost, ModelCost
from lq_ext.metrics.profile import profile
from lq_ext.metrics.table import summary

__all__ = ["LayerCost", "ModelCost", "profile", "summary"]

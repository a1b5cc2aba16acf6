"""Scale out on Dask: sample, fit and evaluate tables larger than one process, with the same bytes anywhere.

The default stays in-process. ``cluster(workers=N)`` starts a local Dask
cluster (processes, one thread each, no dashboard); ``cluster(scheduler=...)``
connects to one the user runs (``dask scheduler`` / ``dask worker``,
dask-kubernetes, dask-jobqueue). Dask is imported only when a cluster is used
(the ``[dask]`` extra).
"""

from synthera.distributed.evaluate import evaluate_dataset
from synthera.distributed.executor import cluster, run_tasks
from synthera.distributed.fit import fit_dataset
from synthera.distributed.relational import read_sampled_database, sample_database
from synthera.distributed.sample import read_manifest, sample_to_parquet
from synthera.distributed.text import generate_sharded

__all__ = ["cluster", "evaluate_dataset", "fit_dataset", "generate_sharded", "read_manifest", "read_sampled_database",
           "run_tasks", "sample_database", "sample_to_parquet"]

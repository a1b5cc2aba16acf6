"""Where tasks run: in this process (the default), a local Dask cluster, or the user's Dask scheduler.

Dask is optional (the ``[dask]`` extra) and imported only here, lazily, through
:func:`synthera._extras.require`. Every distributed job in Synthera is a list of
calls of one top-level, pure function (inputs in, a file written or a few
numbers counted, a small dict out), so :func:`run_tasks` is the whole seam: a
Ray or process-pool adapter would replace only this module.

Examples
--------
>>> from synthera.distributed import cluster
>>> with cluster(workers=2) as client:   # doctest: +SKIP
...     sample_to_parquet("model/", rows=10_000_000, out="synthetic/", seed=0, client=client)
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from synthera._extras import require
from synthera._secrets import redact
from synthera.errors import UserInputError

__all__ = ["CONNECT_TIMEOUT_S", "LOCAL_WORKER_CONFIG", "check_target", "cluster", "run_tasks"]

#: Seconds to wait for a scheduler (``scheduler=``) or for local workers to start.
CONNECT_TIMEOUT_S = 30
#: Dask settings for the local workers, each measured on sampling (CPU seconds per row against in-process):
#: the statistical profiler samples every task's stack each 10 ms for a dashboard not served here (+15-40%);
#: ``MALLOC_TRIM_THRESHOLD_=65536``, which the nanny sets so that workers hand memory back to the system, makes
#: every large numpy allocation a fresh mmap (system time 2x, +20% in all). Both off, a worker used 1.08x the
#: in-process CPU. The driver process hosts the scheduler and the nannies: their event-loop tick (every 20 ms),
#: the nannies' memory monitor (every 100 ms) and the system monitor (every 500 ms) cost it 0.04 CPU-seconds per
#: second of an idle 2-worker cluster; at 1 s, 1 s and 2 s, 0.01 (the tick only times the event loop; memory
#: limits then act within a second). On your own cluster: DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False,
#: no MALLOC_TRIM_THRESHOLD_ in the workers' environment (the nanny's pre-spawn-environ), and the same intervals.
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                       "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                       "distributed.admin.tick.interval": "1s",
                       "distributed.admin.system-monitor.interval": "2s",
                       "distributed.worker.memory.monitor-interval": "1s"}


def check_target(workers: int | None, scheduler: str | None) -> None:
    """Refuse a worker count below 1, or both a worker count and a scheduler address, in one line."""
    if workers is not None and scheduler is not None:
        raise UserInputError("give either workers (a local cluster) or scheduler (an existing one), not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserInputError(f"workers must be a whole number >= 1; got {workers!r}", param="workers")
    if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
        raise UserInputError(
            f"scheduler must be a Dask scheduler address such as tcp://host:8786; got {redact(str(scheduler))!r}",
            param="scheduler")


@contextmanager
def cluster(workers: int | None = None, scheduler: str | None = None) -> Iterator[Any]:
    """A Dask ``Client``: ``workers`` local worker processes (one thread each, no dashboard), or ``scheduler``.

    With neither, yields ``None``: the work runs in this process, as without Dask.
    The client (and a local cluster) is closed on exit, also after an error.
    """
    check_target(workers, scheduler)
    if workers is None and scheduler is None:
        yield None
        return
    distributed = require("dask.distributed", "dask")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise UserInputError(
                f"cannot reach the Dask scheduler at {redact(scheduler)} ({type(exc).__name__}); "
                "start it with `dask scheduler` or check the scheduler address"
            ) from None
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            client.close()
            raise UserInputError(
                f"no Dask worker joined the scheduler at {redact(scheduler)} within {CONNECT_TIMEOUT_S} s; "
                "start one with `dask worker <scheduler address>`"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    dask = require("dask", "dask")
    with dask.config.set(LOCAL_WORKER_CONFIG), warnings.catch_warnings():  # read when the scheduler and nannies start
        # with no dashboard, the scheduler still serves /health on 8787 or, when that is taken (another cluster),
        # on a free port, and says so: nothing for the user to do
        warnings.filterwarnings("ignore", message="Port 8787 is already in use")
        local = distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                         dashboard_address=None, silence_logs=40)
    try:
        with distributed.Client(local, timeout=CONNECT_TIMEOUT_S) as client:
            yield client
    finally:
        local.close()


def run_tasks(fn: Callable[..., dict], calls: Sequence[tuple], *, client: Any = None, name: str = "synthera",
              shared: Any = None, on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """``[fn(shared, *call) for call in calls]``, here or on ``client``'s workers; results in call order.

    ``fn`` must be a top-level function whose result is a small dict (a manifest): the driver
    keeps only these. ``shared`` (e.g. a model's files) is sent to the workers once. A task
    whose worker dies is run again by Dask; because each task's output depends only on its
    inputs, the rerun writes the same bytes.
    """
    results: list[dict | None] = [None] * len(calls)
    if client is None:
        for i, call in enumerate(calls):
            results[i] = fn(shared, *call)
            if on_result is not None:
                on_result(results[i])
        return results  # type: ignore[return-value]
    distributed = require("dask.distributed", "dask")
    # in a list: a dict would be scattered value by value, under its own keys, shared with other runs
    shared_future = client.scatter([shared], broadcast=True, hash=False)[0] if shared is not None else None
    run = uuid.uuid4().hex[:12]  # keys unique per run: Dask would hand back an earlier run's result otherwise
    futures = [client.submit(fn, shared_future, *call, key=f"{name}-{run}-{i}", pure=False, retries=2)
               for i, call in enumerate(calls)]
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for future in distributed.as_completed(futures):
            result = future.result()
            results[index[future.key]] = result
            future.release()
            if on_result is not None:
                on_result(result)
    except BaseException:
        client.cancel(futures)
        raise
    return results  # type: ignore[return-value]

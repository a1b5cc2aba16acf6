"""A test-only step kind that copies a file slowly, and a launcher that runs ``synthera`` with it registered.

``copy`` writes the first half of its output, then, when ``$PIPELINE_TEST_HANG`` names its step, sleeps (so a
test can SIGKILL the run while a half-written output sits in the staging folder), then writes the rest.

    python -m tests.pipeline.slow_steps run pipeline.yaml
"""

from __future__ import annotations

import os
import time

from synthera.pipeline.steps import STEP_KINDS, Params, StepKind, StepResult, register_step


class CopyParams(Params):
    suffix: str = ""


def _run_copy(ctx) -> StepResult:
    data = open(ctx.inputs["data"], "rb").read() + ctx.params.suffix.encode()
    out = ctx.outputs["data"]
    with open(out, "wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        if os.environ.get("PIPELINE_TEST_HANG") == ctx.step_id:
            open(str(out) + ".half", "w").close()  # tells the test: half written, now hanging
            time.sleep(60)
        fh.write(data[len(data) // 2:])
    return StepResult(headline=[f"copied {len(data)} bytes"], numbers={"bytes": len(data)})


def register() -> None:
    if "copy" not in STEP_KINDS:
        register_step(StepKind("copy", CopyParams, _run_copy, reads={"data": "source"},
                               writes={"data": "data.txt"}, summary="copy a file (tests)"))


register()

if __name__ == "__main__":
    from synthera.cli.main import main

    main()

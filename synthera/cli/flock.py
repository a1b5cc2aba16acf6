"""The ``flock`` command group: FLock.io tasks (show, submit, run the whole training-node loop)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from synthera.cli._app import group, renamed_flags
from synthera.cli._common import console, library_warnings
from synthera.errors import UserInputError

__all__ = ["flock_app"]

flock_app = group(
    "flock",
    help="FLock.io training node: show a task, submit an adapter, or run fetch-train-validate-submit.",
    short_help="FLock.io training node: tasks, training, submission.",
)

_TemplateOpt = Annotated[
    str | None, typer.Option("--template", help="With --model: the validator template (loss tasks).")
]
_JudgeOpt = Annotated[
    str | None,
    typer.Option(
        "--judge",
        help="llm_judge tasks: a judge model (an OpenAI-compatible http(s)://host/v1 endpoint, a local folder, or "
        "fake) that grades sampled held-out answers: a local proxy only, the real score needs FLock's judges.",
    ),
]
_JudgeNameOpt = Annotated[
    str | None, typer.Option("--judge-model-name", help="With an endpoint --judge: the model it serves.")
]
_JudgeRepeatsOpt = Annotated[int, typer.Option("--judge-repeats", help="Grades per answer.")]
_JudgeTokensOpt = Annotated[
    int, typer.Option("--judge-max-new-tokens", help="Longest sampled answer (the validator's 2048).")
]
_BASE_URL_HELP = "FLock API root (default $FLOCK_API_BASE_URL or https://fed-ledger-prod.flock.io/api/v1)."


class _Scrubbed:
    """A console whose every line passes through :func:`synthera.flock.client.scrub` (servers echo secrets)."""

    def __init__(self, stderr: bool = False):
        self._console = console(stderr=stderr)

    def print(self, text: object = "") -> None:
        from synthera.flock.client import scrub

        self._console.print(scrub(text))


def _client(base_url: str | None, retries: int):
    from synthera.flock.client import FlockClient

    if retries < 0:
        raise UserInputError(f"--retries must be >= 0; got {retries}")
    return FlockClient(base_url, retries=retries)


@flock_app.command("task")
def task_command(
    task_id: Annotated[str, typer.Argument(help="The task id.")],
    base_url: Annotated[str | None, typer.Option("--base-url", help=_BASE_URL_HELP)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the task as JSON (training URL without signature).")
    ] = False,
    retries: Annotated[int, typer.Option("--retries", help="Extra attempts after a server error.")] = 4,
) -> None:
    """Show a task: status, limits (max_params, context_length) and where its training data is."""
    task = _client(base_url, retries).get_task(task_id)
    summary = task.summary()
    console = _Scrubbed()
    if as_json:
        console.print(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        if value not in (None, "", []):
            console.print(f"{key}: {', '.join(value) if isinstance(value, list) else value}")
    if task.accepts_submissions is False:
        console.print(f"note: submissions are accepted only in submission_phase; this task is in '{task.status}'")


@flock_app.command("submit")
def submit_command(
    task_id: Annotated[str, typer.Option("--task-id", help="The task id.")],
    repo_id: Annotated[str, typer.Option("--repo-id", help="Hugging Face repository holding the adapter (user/name).")],
    revision: Annotated[str, typer.Option("--revision", help="Commit id of the upload in that repository.")],
    base_model: Annotated[
        str | None,
        typer.Option(
            "--base-model",
            help="The submission's base_model field (default: from the adapter's base: its validator template "
            "for loss tasks, its hub id for llm_judge tasks).",
        ),
    ] = None,
    gpu_type: Annotated[
        str | None, typer.Option("--gpu-type", help="Reported GPU (default: this machine's, or cpu).")
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help=_BASE_URL_HELP)] = None,
    retries: Annotated[int, typer.Option("--retries", help="Extra attempts after a server error.")] = 4,
) -> None:
    """Submit an uploaded adapter to a task (the API key comes from $FLOCK_API_KEY).

    First, as FLock's validator will: the task's type must be one synthera trains for, the adapter must be
    readable at REPO@REVISION without credentials, and its base_model_name_or_path must be on the type's list.
    """
    import os

    from synthera.flock.bases import JUDGE_BASES, task_kind
    from synthera.flock.client import API_KEY_ENV
    from synthera.flock.workflow import adapter_base, read_public_adapter_config, submission_base_model
    from synthera.flock.workflow import gpu_type as detect_gpu
    from synthera.text.prompts import TEMPLATES

    if base_model is not None and base_model not in TEMPLATES and base_model not in JUDGE_BASES:
        raise UserInputError(f"--base-model must name a validator template ({', '.join(sorted(TEMPLATES))}) or, for "
                             f"llm_judge tasks, the base's hub id; got {base_model!r}")
    client = _client(base_url, retries)
    if not os.environ.get(API_KEY_ENV, "").strip():
        raise UserInputError(f"{API_KEY_ENV} is not set; export your FLock API key (from https://train.flock.io)")
    task = client.get_task(task_id)
    kind = task_kind(client.task_type(task), task_id=task.id)
    base = adapter_base(read_public_adapter_config(repo_id, revision), f"{repo_id}@{revision} adapter_config.json")
    expected = submission_base_model(kind, base)
    if base_model is not None and base_model != expected:
        raise UserInputError(f"--base-model {base_model} does not match the adapter's base {base}; FLock's {kind} "
                             f"validator expects {expected} (or leave --base-model out)")
    response = client.submit_result(
        task_id,
        hg_repo_id=repo_id,
        base_model=expected,
        gpu_type=gpu_type or detect_gpu(),
        revision=revision,
    )
    console = _Scrubbed()
    console.print(f"submitted {repo_id}@{revision} to task {task_id}")
    if response:
        console.print(json.dumps(response, indent=2, default=str))


@flock_app.command("run")
def run_command(
    task_id: Annotated[str, typer.Option("--task-id", help="The task id.")],
    work_dir: Annotated[Path, typer.Option("--work-dir", help="Data, adapters and checkpoints go here.")] = Path(
        "flock-work"
    ),
    augment: Annotated[int, typer.Option("--augment", help="Add this many SynthGen examples to the task's data.")] = 0,
    augment_task: Annotated[str, typer.Option("--augment-task", help="SynthGen task for --augment.")] = "text-to-sql",
    augment_from: Annotated[
        str | None,
        typer.Option(
            "--augment-from", help="Text-to-SQL: bundled datasets whose synthetic rows fill the database (adult)."
        ),
    ] = None,
    augment_model: Annotated[str | None, typer.Option("--augment-model", help="SynthGen generator model.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Stop before uploading; print what would be sent.")
    ] = False,
    data: Annotated[Path | None, typer.Option("--data", help="Use this JSONL instead of the task's download.")] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="A local base model folder (instead of downloading candidates from the hub)."
        ),
    ] = None,
    base_model_id: Annotated[
        str | None,
        typer.Option(
            "--base-model-id", help="With --model: its hub id (e.g. Qwen/Qwen2.5-0.5B-Instruct), for the template."
        ),
    ] = None,
    template: _TemplateOpt = None,
    judge: _JudgeOpt = None,
    judge_model_name: _JudgeNameOpt = None,
    judge_repeats: _JudgeRepeatsOpt = 3,
    judge_max_new_tokens: _JudgeTokensOpt = 2048,
    max_models: Annotated[
        int, typer.Option("--max-models", help="Train up to N fitting base models; keep the best.")
    ] = 1,
    epochs: Annotated[int, typer.Option("--epochs", help="Training passes.")] = 1,
    lora_r: Annotated[int, typer.Option("--lora-r", help="LoRA rank.")] = 8,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha", help="LoRA alpha.")] = 16,
    quantize: Annotated[str, typer.Option("--quantize", help="none, 8bit or 4bit.")] = "none",
    max_length: Annotated[int | None, typer.Option("--max-length", help="Training context (<= the task's).")] = None,
    learning_rate: Annotated[float, typer.Option("--learning-rate", "--lr", help="AdamW peak learning rate.")] = 2e-4,
    holdout: Annotated[
        float, typer.Option("--holdout", help="Share of the task's data kept for local validation.")
    ] = 0.1,
    repo_id: Annotated[str | None, typer.Option("--repo-id", help="Hub repo (default: HF_USERNAME/task-N-…)")] = None,
    gpu_type: Annotated[str | None, typer.Option("--gpu-type", help="Reported GPU (default: detected/cpu).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help=_BASE_URL_HELP)] = None,
    retries: Annotated[int, typer.Option("--retries", help="Extra attempts after a server error.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the split, the augmentation and training.")] = 0,
    report_out: Annotated[Path | None, typer.Option("--report", help="Also write the run report as JSON here.")] = None,
) -> None:
    """Fetch a task and its data, (augment,) train LoRA, validate locally, upload the adapter, submit."""
    from synthera.flock.workflow import AugmentOptions, SubmitOptions, TrainOptions, run_task
    from synthera.io import check_writable

    candidates = _local_candidates(model, base_model_id, template)
    check_writable(work_dir, folder=True)  # before hours of training, not after
    if report_out is not None:
        check_writable(report_out)
    tuning = dict(epochs=epochs, lora_r=lora_r, lora_alpha=lora_alpha, quantize=quantize, learning_rate=learning_rate)
    judge_llm = _judge(judge, judge_model_name)
    flags = {"holdout": "--holdout", "max_models": "--max-models", "augment": "--augment",
             "judge_repeats": "--judge-repeats", "judge_max_new_tokens": "--judge-max-new-tokens"}
    with library_warnings(), renamed_flags(**flags):
        report = run_task(
            task_id, client=_client(base_url, retries), work_dir=work_dir, data=data,
            train=TrainOptions(candidates=candidates, max_models=max_models, holdout=holdout, max_length=max_length,
                               finetune_params=tuning, judge=judge_llm, judge_repeats=judge_repeats,
                               judge_max_new_tokens=judge_max_new_tokens),
            augmentation=AugmentOptions(n=augment, task=augment_task, source=augment_from, model=augment_model),
            submission=SubmitOptions(repo_id=repo_id, gpu=gpu_type, dry_run=dry_run),
            seed=seed, progress=True, log=_Scrubbed(stderr=True).print,
        )
    _print_outcome(report, report_out)


def _judge(spec: str | None, model_name: str | None):
    """The ``--judge`` backend (``None`` without one)."""
    if spec is None:
        return None
    from synthera.text.llm import get_llm

    return get_llm(spec, model_name=model_name)


def _local_candidates(model: Path | None, base_model_id: str | None, template: str | None):
    """``--model`` as the one candidate (``None`` without it: the workflow picks from the hub).

    ``--base-model-id`` must be on a task type's dated list (:mod:`synthera.flock.bases`); the workflow
    checks it again against the fetched task's own type.
    """
    from synthera.flock.bases import JUDGE_BASES, LOSS, check_base
    from synthera.flock.workflow import Candidate, count_parameters
    from synthera.text.prompts import SUPPORTED_BASE_MODELS, get_template

    if model is None:
        if base_model_id is not None or template is not None:
            raise UserInputError("--base-model-id and --template go with --model")
        return None
    if not model.is_dir():
        raise UserInputError(f"--model {model} is not a folder; pass a local Hugging Face model folder")
    if base_model_id is None:
        raise UserInputError("--model needs --base-model-id: the hub id the validator will load the adapter on")
    if base_model_id in JUDGE_BASES:
        if template is not None:
            raise UserInputError(f"{base_model_id} is an llm_judge base, trained with its own chat template; "
                                 "drop --template")
        return [Candidate(base_model_id, None, count_parameters(model), str(model))]
    check_base(base_model_id, LOSS, what="--base-model-id")
    name = SUPPORTED_BASE_MODELS[base_model_id][0]
    if template is not None and get_template(template).name != name:
        raise UserInputError(f"--template {template} is not what FLock's validator uses for {base_model_id} "
                             f"({name}); drop --template")
    return [Candidate(base_model_id, name, count_parameters(model), str(model))]


def _print_outcome(report, report_out: Path | None) -> None:
    """The chosen model and its scores, then what was (or would be) sent; the JSON report when asked."""
    from synthera.flock.workflow import dumps_report
    from synthera.io import write_text

    console = _Scrubbed()
    chosen = report.chosen
    template = chosen["template"] or "its own chat template"
    console.print(
        f"chosen base model: {chosen['model_id']} ({report.task_kind} task, template {template}); held-out bits per "
        f"byte {chosen['heldout_bits_per_byte']:.4f} (base model alone "
        f"{chosen['heldout_bits_per_byte_base']:.4f}; lower is better)"
    )
    if report.task_kind == "llm_judge":
        proxy = chosen.get("judge_proxy")
        if proxy:
            console.print(f"judge-score proxy {proxy['judge_proxy_score']:.4f} from {proxy['judge']} "
                          f"({proxy['unreadable_verdicts']} unreadable verdicts; higher is better)")
        console.print(f"note: {report.note}")
    if report.dry_run:
        console.print("dry run: nothing uploaded or submitted. It would send:")
        console.print(json.dumps(report.submission, indent=2))
    else:
        console.print(f"uploaded {report.repo_id}@{report.revision} and submitted it to task {report.task['id']}")
    if report_out is not None:
        write_text(dumps_report(report) + "\n", report_out)
        console.print(f"wrote {report_out}")

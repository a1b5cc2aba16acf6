"""The FLock training-node loop: fetch a task, train a LoRA adapter, score it locally, upload, submit.

:func:`run_task` does, in order:

1. fetch the task and download its training data (JSONL, or a zip holding one);
2. optionally add SynthGen examples (``augment``);
3. pick base models whose size fits the task's ``max_params`` (FLock's
   validator gives any larger model its failure score);
4. train a LoRA adapter on each, within the task's ``context_length``, using
   the validator's prompt template for that base model;
5. validate locally: bits per byte on a held-out split, computed exactly as
   the validator will, for the base model alone and with the adapter;
6. upload the best adapter to the Hugging Face Hub (``huggingface_hub``);
7. submit it to the task.

``dry_run=True`` stops before step 6 and reports what would be uploaded and
sent. ``HF_TOKEN`` and ``FLOCK_API_KEY`` are read from the environment when
needed and never printed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synthera.errors import UserInputError

__all__ = [
    "Candidate",
    "RunReport",
    "count_parameters",
    "dumps_report",
    "gpu_type",
    "hf_upload",
    "pick_base_models",
    "prepare_training_data",
    "run_task",
]


@dataclass(frozen=True)
class Candidate:
    """A base model to try: its hub id, the validator template and its size.

    ``local`` is a folder holding the model; ``None`` means download it from the hub.
    """

    model_id: str
    template: str
    params: int
    local: str | None = None


@dataclass
class RunReport:
    """Everything :func:`run_task` did and would send."""

    task: dict
    train_examples: int
    heldout_examples: int
    augmented: int
    candidates: list[dict] = field(default_factory=list)
    chosen: dict | None = None
    repo_id: str | None = None
    revision: str | None = None
    submission: dict | None = None
    response: dict | None = None
    dry_run: bool = False

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------- steps


def count_parameters(folder: str | os.PathLike) -> int:
    """Parameters of a local model, read from its safetensors headers (no weights loaded)."""
    from safetensors import safe_open

    total = 0
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise UserInputError(f"{folder} has no .safetensors weights; cannot count its parameters")
    for file in files:
        with safe_open(str(file), framework="pt") as fh:
            for name in fh.keys():  # noqa: SIM118 - safetensors handles are not dicts
                shape = fh.get_slice(name).get_shape()
                n = 1
                for dim in shape:
                    n *= dim
                total += n
    return total


def pick_base_models(max_params: int | None, candidates: Sequence[Candidate] | None = None,
                     *, limit: int | None = None) -> list[Candidate]:
    """Candidates no larger than ``max_params`` (all when ``None``), smallest first."""
    from synthera.text.prompts import SUPPORTED_BASE_MODELS

    if candidates is None:
        candidates = [Candidate(mid, tpl, n) for mid, (tpl, n) in SUPPORTED_BASE_MODELS.items()]
    fitting = [c for c in candidates if max_params is None or c.params <= max_params]
    fitting.sort(key=lambda c: (c.params, c.model_id))
    if not fitting:
        smallest = min(candidates, key=lambda c: c.params) if candidates else None
        hint = f" (the smallest, {smallest.model_id}, has {smallest.params:,})" if smallest else ""
        raise UserInputError(f"no base model fits the task's max_params {max_params:,}{hint}")
    return fitting[:limit] if limit else fitting


def _read_jsonl_records(path: Path) -> list[dict]:
    from synthera.text.finetune import read_conversations

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.endswith(".jsonl") and not n.startswith("__MACOSX"))
            if not names:
                raise UserInputError(f"the task's zip archive {path.name} holds no .jsonl file")
            extracted = path.with_suffix(".jsonl")
            from synthera.io import atomic_path

            with archive.open(names[0]) as src, atomic_path(extracted) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        path = extracted
    return read_conversations(path)


def prepare_training_data(task, work_dir: Path, *, data: str | os.PathLike | None = None,
                          download_fn: Callable | None = None) -> list[dict]:
    """The task's conversations: from ``data`` if given, else downloaded from the task's http(s) URL.

    The URL comes from the server, so any other scheme (``file://``...) is
    refused before anything is read.
    """
    from synthera.flock.client import check_download_url, download, scrub

    if data is not None:
        return _read_jsonl_records(Path(data))
    url = task.training_data_url
    if url is None:
        if task.hf_dataset:
            raise UserInputError(scrub(f"task {task.id} names its training data as the Hugging Face dataset "
                                       f"{task.hf_dataset}; download it and pass --data FILE.jsonl"))
        keys = ", ".join(sorted(map(str, task.data))) or "none"
        raise UserInputError(scrub(f"task {task.id} gives no training data URL (data keys: {keys}); "
                                   "pass --data FILE.jsonl"))
    check_download_url(url)
    target = work_dir / "training_set.jsonl"
    (download_fn or download)(url, target)
    return _read_jsonl_records(target)


def _augment(n: int, *, task: str, source: str | None, model: str | None, seed: int, work_dir: Path) -> list[dict]:
    from synthera.text.pipeline import GenerationConfig, generate

    if task == "text-to-sql":
        where = {"db": source} if source and Path(source).is_file() else {"from_synthetic": source or "adult"}
        config = GenerationConfig(task=task, n=n, seed=seed, model=model or "template", **where)
    else:
        config = GenerationConfig(task=task, n=n, seed=seed, model=model)
    result = generate(config, out=work_dir / "augment.jsonl", progress=True)
    return [{"system": r.get("system", ""), "conversations": r["conversations"]} for r in result.records]


def gpu_type() -> str:
    """What FLock's ``gpu_type`` field should say: the CUDA device name, or ``cpu``."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    return "cpu"


def _hf_token() -> str:
    token = os.environ.get("HF_TOKEN", "").strip()
    if not token:
        raise UserInputError("HF_TOKEN is not set; export a Hugging Face write token to upload the adapter")
    return token


def _default_repo_id(task_id: int, model_id: str, *, dry_run: bool) -> str:
    user = os.environ.get("HF_USERNAME", "").strip()
    if not user and not dry_run:
        from huggingface_hub import HfApi

        user = HfApi(token=_hf_token()).whoami()["name"]
    return f"{user or '<HF_USERNAME>'}/task-{task_id}-{model_id.replace('/', '-')}"


def hf_upload(adapter_dir: Path, repo_id: str) -> str:
    """Upload ``adapter_config.json`` and ``adapter_model.safetensors`` to ``repo_id``; return the commit id."""
    from huggingface_hub import HfApi

    from synthera.flock.client import scrub

    api = HfApi(token=_hf_token())
    try:
        api.create_repo(repo_id, exist_ok=True, repo_type="model")
        info = api.upload_folder(folder_path=str(adapter_dir), repo_id=repo_id, repo_type="model",
                                 allow_patterns=["adapter_config.json", "adapter_model.safetensors"],
                                 commit_message="LoRA adapter from synthera flock run")
    except Exception as exc:  # noqa: BLE001 - hub errors vary; the message must not leak the token
        raise UserInputError(scrub(f"upload to the Hugging Face Hub failed ({type(exc).__name__}: {exc})")) from None
    return info.oid


def _resolve_local(candidate: Candidate) -> str:
    if candidate.local:
        return candidate.local
    from synthera.flock.client import scrub

    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(candidate.model_id, token=os.environ.get("HF_TOKEN") or None,
                                 allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    except Exception as exc:  # noqa: BLE001
        raise UserInputError(scrub(f"cannot fetch {candidate.model_id} from the Hugging Face Hub "
                                   f"({type(exc).__name__}); pass --model with a local copy")) from None


# --------------------------------------------------------------------------- the loop


def _scrubbed(log: Callable[[str], None]) -> Callable[[str], None]:
    from synthera.flock.client import scrub

    return lambda message: log(scrub(message))


def run_task(
    task_id,
    *,
    client=None,
    work_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    candidates: Sequence[Candidate] | None = None,
    max_models: int = 1,
    augment: int = 0,
    augment_task: str = "text-to-sql",
    augment_from: str | None = None,
    augment_model: str | None = None,
    holdout: float = 0.1,
    max_length: int | None = None,
    finetune_params: dict | None = None,
    repo_id: str | None = None,
    gpu: str | None = None,
    dry_run: bool = False,
    seed: int = 0,
    uploader: Callable[[Path, str], str] | None = None,
    download_fn: Callable | None = None,
    progress: bool = False,
    log: Callable[[str], None] = lambda _msg: None,
) -> RunReport:
    """Fetch FLock task ``task_id``, train, validate locally and submit (see the module docstring).

    Parameters
    ----------
    client
        A :class:`~synthera.flock.client.FlockClient` (default: one for ``$FLOCK_API_BASE_URL``).
    work_dir
        Where the data, adapters and checkpoints go (a re-run resumes training there).
    data
        Use this JSONL instead of downloading the task's data.
    candidates
        Base models to consider (default: every model FLock's validator
        accepts, fetched from the hub); filtered by ``max_params``, smallest first.
    max_models
        Train at most this many candidates; the lowest held-out bits per byte wins.
    augment, augment_task, augment_from, augment_model
        Add this many SynthGen examples (task, source tables, generator model).
    holdout
        Share of the task's conversations kept out of training for local validation.
    max_length
        Training context, capped by the task's ``context_length``.
    finetune_params
        Extra :class:`~synthera.text.finetune.LoraFinetuner` settings (``epochs``, ``lora_r``, ...).
    repo_id
        Hub repository for the adapter (default ``$HF_USERNAME/task-<id>-<model>``).
    gpu
        ``gpu_type`` to report (default: the CUDA device name, or ``cpu``).
    dry_run
        Stop before uploading; the report shows what would be sent.
    uploader
        ``uploader(adapter_dir, repo_id) -> revision`` (default: :func:`hf_upload`).
    log
        Receives one line per step.
    """
    from synthera.flock.client import API_KEY_ENV, FlockClient, scrub, scrub_payload, submission_body
    from synthera.io import model_folder
    from synthera.text.evaluation import validator_loss
    from synthera.text.finetune import LoraFinetuner, load_base_model

    if not 0 < holdout < 1:
        raise UserInputError(f"--holdout must lie strictly between 0 and 1; got {holdout}")
    if augment < 0:
        raise UserInputError(f"--augment must be >= 0; got {augment}")
    if max_models < 1:
        raise UserInputError(f"--max-models must be >= 1; got {max_models}")
    if not dry_run and not os.environ.get(API_KEY_ENV, "").strip():
        raise UserInputError(f"{API_KEY_ENV} is not set; export your FLock API key, or use --dry-run")
    client = client or FlockClient()
    work = model_folder(work_dir)
    log = _scrubbed(log)  # task titles and phases come from the server

    task = client.get_task(task_id)
    log(f"task {task.id}: {task.title or '(untitled)'}; status {task.status or 'unknown'}; "
        f"max_params {task.max_params if task.max_params is not None else 'unstated'}; "
        f"context_length {task.context_length if task.context_length is not None else 'unstated'}")
    if task.accepts_submissions is False and not dry_run:
        raise UserInputError(scrub(f"task {task.id} is in phase '{task.status}'; submissions are accepted only in "
                                   "submission_phase (use --dry-run to train and validate anyway)"))

    records = prepare_training_data(task, work, data=data, download_fn=download_fn)
    rng = random.Random(seed)
    order = list(range(len(records)))
    rng.shuffle(order)
    n_held = max(1, round(holdout * len(records))) if len(records) > 1 else 0
    if n_held == 0:
        raise UserInputError("the task's training data has a single conversation; nothing is left to validate on")
    heldout = [records[i] for i in order[:n_held]]
    train = [records[i] for i in order[n_held:]]
    log(f"training data: {len(records):,} conversations ({len(train):,} to train on, {len(heldout):,} held out)")
    extra = []
    if augment:
        extra = _augment(augment, task=augment_task, source=augment_from, model=augment_model, seed=seed,
                         work_dir=work)
        log(f"SynthGen added {len(extra):,} {augment_task} examples")
    train = train + extra

    context = task.context_length
    length = min(max_length or context or 2048, context or max_length or 2048)
    params = dict(finetune_params or {})
    params.setdefault("seed", seed)
    report = RunReport(task=task.summary(), train_examples=len(train), heldout_examples=len(heldout),
                       augmented=len(extra), dry_run=dry_run)
    best = None
    for cand in pick_base_models(task.max_params, candidates, limit=max_models):
        local = _resolve_local(cand)
        size = count_parameters(local)
        if task.max_params is not None and size > task.max_params:
            log(f"skip {cand.model_id}: {size:,} parameters > max_params {task.max_params:,}")
            continue
        out = work / ("adapter-" + cand.model_id.replace("/", "--"))
        log(f"training LoRA on {cand.model_id} (template {cand.template}, context {length})")
        tuner = LoraFinetuner(**{**params, "template": cand.template, "max_length": length})
        tuner.fit(train, model=local, out=out, progress=progress, base_model_id=cand.model_id)
        # Fresh models for validation: never reuse the trained object (and never train after a no_grad pass).
        base_lm, tokenizer = load_base_model(local)
        base_score = validator_loss(base_lm, tokenizer, heldout, template=cand.template,
                                    context_length=context or length)
        del base_lm
        from synthera.text.evaluation import load_model_with_adapter

        tuned_lm, tokenizer = load_model_with_adapter(local, out)
        tuned_score = validator_loss(tuned_lm, tokenizer, heldout, template=cand.template,
                                     context_length=context or length)
        del tuned_lm
        entry = {"model_id": cand.model_id, "template": cand.template, "params": size, "adapter_dir": str(out),
                 "train_loss_first": tuner.losses_[0], "train_loss_last": tuner.losses_[-1],
                 "steps": tuner.steps_, "heldout_bits_per_byte_base": base_score["bits_per_byte"],
                 "heldout_bits_per_byte": tuned_score["bits_per_byte"],
                 "heldout_without_target": tuned_score["without_target"]}
        report.candidates.append(entry)
        log(f"{cand.model_id}: held-out bits per byte {base_score['bits_per_byte']:.4f} (base) -> "
            f"{tuned_score['bits_per_byte']:.4f} (with adapter)")
        if best is None or entry["heldout_bits_per_byte"] < best["heldout_bits_per_byte"]:
            best = entry
    if best is None:
        raise UserInputError("no candidate base model could be trained within the task's limits")
    report.chosen = best

    repo = repo_id or _default_repo_id(task.id, best["model_id"], dry_run=dry_run)
    report.repo_id = repo
    fields = {"hg_repo_id": repo, "base_model": best["template"], "gpu_type": gpu or gpu_type()}
    if dry_run:
        key_state = "set" if os.environ.get(API_KEY_ENV, "").strip() else "not set"
        report.submission = {
            "method": "POST", "url": client.url + "/tasks/submit-result",
            "headers": {"Content-Type": "application/json", "flock-api-key": f"<from {API_KEY_ENV}: {key_state}>"},
            "json": submission_body(task.id, revision="<commit id of the upload>", **fields),
            "upload": {"repo_id": repo, "files": ["adapter_config.json", "adapter_model.safetensors"],
                       "from": best["adapter_dir"]},
        }
        log("dry run: stopping before the upload")
        return report
    revision = (uploader or hf_upload)(Path(best["adapter_dir"]), repo)
    report.revision = revision
    log(f"uploaded the adapter to {repo} at revision {revision}")
    report.submission = submission_body(task.id, revision=revision, **fields)
    report.response = scrub_payload(client.submit_result(task.id, revision=revision, **fields))
    log(f"submitted to task {task.id}")
    return report


def dumps_report(report: RunReport) -> str:
    """The report as indented JSON, scrubbed of anything that looks like a secret."""
    from synthera.flock.client import scrub

    return scrub(json.dumps(report.to_dict(), indent=2, default=str))

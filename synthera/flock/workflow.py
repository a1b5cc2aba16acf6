"""The FLock training-node loop: fetch a task, train a LoRA adapter, score it locally, upload, submit.

:func:`run_task` composes seven keyword-only steps. Each can be called
alone and writes what it produced into the work directory:

1. :func:`fetch_task`: the task (``task.json``); a closed task is refused, and
   so is a task type Synthera cannot train for (``rl``, unknown types), before
   anything is downloaded;
2. :func:`prepare_data`: its training data (JSONL, or a zip holding one),
   split into ``train.jsonl`` and ``heldout.jsonl``;
3. :func:`augment`: optional SynthGen examples (``augment.jsonl``);
4. :func:`pick_candidates`: base models the task type's validator accepts
   (:mod:`synthera.flock.bases`) whose size fits the task's ``max_params``
   (FLock's validator gives any larger model its failure score), with local
   copies (``candidates.json``);
5. :func:`training_step` picks the training path by task type: for loss
   (``lora``) tasks :func:`train_candidate` trains a LoRA adapter with the
   validator's prompt template for that base model; for ``llm_judge`` tasks
   :func:`train_judge_candidate` trains with the tokenizer's own chat template
   (thinking off), as the judge prompts (``adapter-<model>/``);
6. :func:`validate`: loss tasks get bits per byte on the held-out split,
   computed exactly as the validator will, for the base model alone and with
   the adapter; judge tasks get the chat-template bits per byte and, with a
   judge model, a local *proxy* of the judge score
   (:mod:`synthera.text.judge`; the real score needs FLock's remote judges)
   (``validation-<model>.json``);
7. :func:`submit`: check the adapter's base against the task type's list,
   upload the best adapter to a public Hugging Face repository, check that
   ``repo@revision`` can be read anonymously (as the validator will), and
   submit it to the task (``submission.json``).

Settings come in three small records: :class:`TrainOptions` (candidates,
split, context, fine-tuning), :class:`AugmentOptions` (SynthGen) and
:class:`SubmitOptions` (repository, GPU, dry run, uploader).
``SubmitOptions(dry_run=True)`` stops before the upload and reports what would
be uploaded and sent. ``HF_TOKEN`` and ``FLOCK_API_KEY`` are read from the
environment when needed and never printed or written.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from synthera._extras import require
from synthera.errors import UserInputError

__all__ = [
    "AugmentOptions",
    "Candidate",
    "DataSplit",
    "RunReport",
    "SubmitOptions",
    "TrainOptions",
    "augment",
    "count_parameters",
    "fetch_task",
    "pick_candidates",
    "prepare_data",
    "submit",
    "train_candidate",
    "train_judge_candidate",
    "training_step",
    "read_public_adapter_config",
    "validate",
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

    ``template`` is ``None`` for judge tasks (the tokenizer's chat template);
    ``local`` is a folder holding the model; ``None`` means download it from the hub.
    """

    model_id: str
    template: str | None
    params: int
    local: str | None = None


@dataclass(frozen=True)
class TrainOptions:
    """Which base models to train and how.

    ``candidates``: base models to consider (default: every model FLock's
    validator accepts, fetched from the hub), filtered by ``max_params``,
    smallest first. ``max_models``: train at most this many; the lowest
    held-out bits per byte wins. ``holdout``: share of the task's
    conversations kept out of training for local validation. ``max_length``:
    training context, capped by the task's ``context_length``.
    ``finetune_params``: extra :class:`~synthera.text.finetune.LoraFinetuner`
    settings (``epochs``, ``lora_r``, ...). Judge tasks only: ``judge`` is an
    :class:`~synthera.text.llm.LLM` (or a ``get_llm`` spec) that grades
    sampled held-out answers ``judge_repeats`` times each, generating up to
    ``judge_max_new_tokens`` (the validator's 2,048 by default); without it
    only the chat-template bits per byte is reported.
    """

    candidates: Sequence[Candidate] | None = None
    max_models: int = 1
    holdout: float = 0.1
    max_length: int | None = None
    finetune_params: dict | None = None
    judge: object | None = None
    judge_repeats: int = 3
    judge_max_new_tokens: int = 2048


@dataclass(frozen=True)
class AugmentOptions:
    """``n`` SynthGen examples of ``task`` to add, from ``source`` tables, written by ``model`` (0: none)."""

    n: int = 0
    task: str = "text-to-sql"
    source: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class SubmitOptions:
    """Where the adapter goes and what is reported.

    ``repo_id``: hub repository (default ``$HF_USERNAME/task-<id>-<model>``).
    ``gpu``: ``gpu_type`` to report (default: the CUDA device name, or ``cpu``).
    ``dry_run``: stop before uploading; the report shows what would be sent.
    ``uploader``: ``uploader(adapter_dir, repo_id) -> revision`` (default: :func:`hf_upload`).
    ``public_reader``: ``public_reader(repo_id, revision) -> adapter config`` read
    without credentials (default: :func:`read_public_adapter_config`).
    """

    repo_id: str | None = None
    gpu: str | None = None
    dry_run: bool = False
    uploader: Callable[[Path, str], str] | None = None
    public_reader: Callable[[str, str], dict] | None = None


@dataclass(frozen=True)
class DataSplit:
    """The task's conversations: ``train`` to fine-tune on, ``heldout`` for local validation."""

    train: list[dict]
    heldout: list[dict]


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
    task_kind: str = "lora"
    note: str | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------- steps


def count_parameters(folder: str | os.PathLike) -> int:
    """Parameters of a local model, read from its safetensors headers (no weights loaded)."""
    safe_open = require("safetensors", "text").safe_open
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
                     *, limit: int | None = None, kind: str = "lora") -> list[Candidate]:
    """Candidates no larger than ``max_params`` (all when ``None``), smallest first.

    ``kind`` (``lora`` or ``llm_judge``) picks the accepted bases; a given candidate outside them is refused.
    """
    from synthera.flock.bases import check_base, supported_bases

    if candidates is None:
        candidates = [Candidate(mid, tpl, n) for mid, (tpl, n) in supported_bases(kind).items()]
    for cand in candidates:
        check_base(cand.model_id, kind)
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
                                       f"{task.hf_dataset}; download it and pass data FILE.jsonl"))
        keys = ", ".join(sorted(map(str, task.data))) or "none"
        raise UserInputError(scrub(f"task {task.id} gives no training data URL (data keys: {keys}); "
                                   "pass data FILE.jsonl"))
    check_download_url(url)
    target = work_dir / "training_set.jsonl"
    (download_fn or download)(url, target)
    return _read_jsonl_records(target)


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
        user = require("huggingface_hub", "text").HfApi(token=_hf_token()).whoami()["name"]
    return f"{user or '<HF_USERNAME>'}/task-{task_id}-{model_id.replace('/', '-')}"


def hf_upload(adapter_dir: Path, repo_id: str) -> str:
    """Upload ``adapter_config.json`` and ``adapter_model.safetensors`` to ``repo_id``; return the commit id."""
    from synthera.flock.client import scrub

    api = require("huggingface_hub", "text").HfApi(token=_hf_token())
    try:
        # public: under an organisation that defaults to private, the validator could not read it
        api.create_repo(repo_id, exist_ok=True, repo_type="model", private=False)
        info = api.upload_folder(folder_path=str(adapter_dir), repo_id=repo_id, repo_type="model",
                                 allow_patterns=["adapter_config.json", "adapter_model.safetensors"],
                                 commit_message="LoRA adapter from synthera flock run")
    except Exception as exc:  # noqa: BLE001 - hub errors vary; the message must not leak the token
        raise UserInputError(scrub(f"upload to the Hugging Face Hub failed ({type(exc).__name__}: {exc})")) from None
    return info.oid


def read_public_adapter_config(repo_id: str, revision: str) -> dict:
    """``adapter_config.json`` of ``repo_id@revision``, downloaded WITHOUT credentials, as FLock's validator will.

    A private, gated or missing repository is a one-line refusal: the validator would fail the submission.
    """
    from synthera.flock.client import scrub

    hub = require("huggingface_hub", "text")
    try:
        path = hub.hf_hub_download(repo_id, "adapter_config.json", revision=revision, repo_type="model", token=False)
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - hub errors vary
        raise UserInputError(scrub(f"{repo_id}@{revision} cannot be read anonymously ({type(exc).__name__}); "
                                   "FLock's validator downloads it without your token: make the repository public "
                                   "and check the revision")) from None
    if not isinstance(config, dict):
        raise UserInputError(f"{repo_id}@{revision} has an adapter_config.json that is not a JSON object")
    return config


def adapter_base(config: dict, where: str) -> str:
    """The ``base_model_name_or_path`` of an adapter config (refused in one line when missing)."""
    base = config.get("base_model_name_or_path")
    if not isinstance(base, str) or not base.strip():
        raise UserInputError(f"{where} names no base_model_name_or_path; FLock's validator needs the base's hub id")
    return base.strip()


def _resolve_local(candidate: Candidate) -> str:
    if candidate.local:
        return candidate.local
    from synthera.flock.client import scrub

    snapshot_download = require("huggingface_hub", "text").snapshot_download
    try:
        return snapshot_download(candidate.model_id, token=os.environ.get("HF_TOKEN") or None,
                                 allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    except Exception as exc:  # noqa: BLE001
        raise UserInputError(scrub(f"cannot fetch {candidate.model_id} from the Hugging Face Hub "
                                   f"({type(exc).__name__}); pass a local copy (train.candidates)")) from None


# --------------------------------------------------------------------------- the loop, one step at a time


def _quiet(_message: str) -> None:
    pass


def _scrubbed(log: Callable[[str], None]) -> Callable[[str], None]:
    from synthera.flock.client import scrub

    return lambda message: log(scrub(message))


def _write_json(payload, target: Path) -> None:
    from synthera.flock.client import scrub
    from synthera.io import write_text

    write_text(scrub(json.dumps(payload, indent=2, default=str)) + "\n", target)


def _write_jsonl(records: list[dict], target: Path) -> None:
    from synthera.io import write_text

    write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), target)


def _slug(model_id: str) -> str:
    return model_id.replace("/", "--")


def _adapter_name(model_id: str) -> str:
    return "adapter-" + _slug(model_id)


def fetch_task(task_id, *, client, work_dir: Path, dry_run: bool = False, log: Callable[[str], None] = _quiet):
    """Step 1: the task from the API, written (scrubbed) to ``work_dir/task.json``.

    Its ``task_type`` comes from the task, else from ``GET /tasks/list`` (none
    anywhere: a loss task, as FLock's older tasks are); ``rl`` and unknown types
    are refused here, before anything is downloaded. A task outside
    ``submission_phase`` is refused unless ``dry_run``: nothing would be accepted.
    """
    from synthera.flock.bases import task_kind
    from synthera.flock.client import FlockAPIError, scrub

    task = client.get_task(task_id)
    if not task.task_type and hasattr(client, "task_type"):
        try:
            task.task_type = client.task_type(task)
        except FlockAPIError as exc:
            log(f"task type not listed ({exc}); treating task {task.id} as a loss (lora) task")
    kind = task_kind(task.task_type, task_id=task.id)
    log(f"task {task.id}: {task.title or '(untitled)'}; status {task.status or 'unknown'}; "
        f"max_params {task.max_params if task.max_params is not None else 'unstated'}; "
        f"context_length {task.context_length if task.context_length is not None else 'unstated'}; "
        f"type {task.task_type or 'unstated'} (trained as {kind})")
    if task.accepts_submissions is False and not dry_run:
        raise UserInputError(scrub(f"task {task.id} is in phase '{task.status}'; submissions are accepted only in "
                                   "submission_phase (use dry_run to train and validate anyway)"))
    _write_json(task.summary(), work_dir / "task.json")
    return task


def prepare_data(task, *, work_dir: Path, holdout: float, seed: int, data: str | os.PathLike | None = None,
                 download_fn: Callable | None = None, log: Callable[[str], None] = _quiet) -> DataSplit:
    """Step 2: the task's conversations, shuffled with ``seed`` and split into training and held-out rows.

    The split is written to ``work_dir/train.jsonl`` and ``work_dir/heldout.jsonl``.
    """
    records = prepare_training_data(task, work_dir, data=data, download_fn=download_fn)
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_held = max(1, round(holdout * len(records))) if len(records) > 1 else 0
    if n_held == 0:
        raise UserInputError("the task's training data has a single conversation; nothing is left to validate on")
    split = DataSplit(train=[records[i] for i in order[n_held:]], heldout=[records[i] for i in order[:n_held]])
    _write_jsonl(split.train, work_dir / "train.jsonl")
    _write_jsonl(split.heldout, work_dir / "heldout.jsonl")
    log(f"training data: {len(records):,} conversations ({len(split.train):,} to train on, "
        f"{len(split.heldout):,} held out)")
    return split


def augment(options: AugmentOptions, *, work_dir: Path, seed: int,
            log: Callable[[str], None] = _quiet) -> list[dict]:
    """Step 3: ``options.n`` SynthGen examples (none when it is 0), written to ``work_dir/augment.jsonl``."""
    if not options.n:
        return []
    from synthera.text.pipeline import GenerationConfig, generate

    if options.task == "text-to-sql":
        source = options.source
        where = {"db": source} if source and Path(source).is_file() else {"from_synthetic": source or "adult"}
        config = GenerationConfig(task=options.task, n=options.n, seed=seed, model=options.model or "template",
                                  **where)
    else:
        config = GenerationConfig(task=options.task, n=options.n, seed=seed, model=options.model)
    result = generate(config, out=work_dir / "augment.jsonl", progress=True)
    extra = [{"system": r.get("system", ""), "conversations": r["conversations"]} for r in result.records]
    log(f"SynthGen added {len(extra):,} {options.task} examples")
    return extra


def pick_candidates(task, *, work_dir: Path, candidates: Sequence[Candidate] | None = None, max_models: int = 1,
                    log: Callable[[str], None] = _quiet) -> list[Candidate]:
    """Step 4: up to ``max_models`` base models within the task's ``max_params``, each with a local folder.

    Sizes are measured from the weights (a model whose real size exceeds the
    limit is skipped); the list is written to ``work_dir/candidates.json``.
    """
    from synthera.flock.bases import task_kind

    picked = []
    kind = task_kind(task.task_type, task_id=task.id)
    for cand in pick_base_models(task.max_params, candidates, limit=max_models, kind=kind):
        local = _resolve_local(cand)
        size = count_parameters(local)
        if task.max_params is not None and size > task.max_params:
            log(f"skip {cand.model_id}: {size:,} parameters > max_params {task.max_params:,}")
            continue
        picked.append(replace(cand, params=size, local=local))
    if not picked:
        raise UserInputError("no candidate base model could be trained within the task's limits")
    _write_json([c.__dict__ for c in picked], work_dir / "candidates.json")
    return picked


def train_candidate(candidate: Candidate, train: list[dict], *, work_dir: Path, max_length: int,
                    finetune_params: dict, progress: bool = False, log: Callable[[str], None] = _quiet):
    """Step 5 (LoRA): fine-tune an adapter on ``candidate`` into ``work_dir/adapter-<model>``; return the tuner.

    A re-run with the same work directory resumes from the adapter's checkpoints.
    """
    from synthera.text.finetune import LoraFinetuner

    out = work_dir / _adapter_name(candidate.model_id)
    log(f"training LoRA on {candidate.model_id} (template {candidate.template}, context {max_length})")
    tuner = LoraFinetuner(**{**finetune_params, "template": candidate.template, "max_length": max_length})
    tuner.fit(train, model=candidate.local, out=out, progress=progress, base_model_id=candidate.model_id)
    return tuner


def train_judge_candidate(candidate: Candidate, train: list[dict], *, work_dir: Path, max_length: int,
                          finetune_params: dict, progress: bool = False, log: Callable[[str], None] = _quiet):
    """Step 5 (llm_judge): LoRA SFT with the tokenizer's own chat template, thinking off, as the judge prompts.

    Tool calls are targets too (the judge grades a final function call against the reference call).
    """
    log(f"{candidate.model_id}: llm_judge task, training with the model's own chat template")
    return train_candidate(replace(candidate, template=None), train, work_dir=work_dir, max_length=max_length,
                           finetune_params=finetune_params, progress=progress, log=log)


def training_step(task) -> Callable:
    """The step that trains one candidate for ``task``, chosen by its ``task_type``.

    Loss (``lora``) tasks: :func:`train_candidate` with the validator's template;
    ``llm_judge`` tasks: :func:`train_judge_candidate`; other types are refused.
    """
    from synthera.flock.bases import JUDGE, task_kind

    return train_judge_candidate if task_kind(task.task_type, task_id=task.id) == JUDGE else train_candidate


def _judge_scores(candidate: Candidate, heldout: list[dict], adapter: Path, options: TrainOptions, seed: int,
                  log: Callable[[str], None]) -> dict:
    from synthera.text.evaluation import load_model_with_adapter
    from synthera.text.judge import NOT_REPRODUCIBLE, judge_proxy
    from synthera.text.llm import get_llm

    if options.judge is None:
        log(f"{candidate.model_id}: no judge model given, so no judge-score proxy ({NOT_REPRODUCIBLE})")
        return {"judge_proxy": None}
    judge = get_llm(options.judge) if isinstance(options.judge, str) else options.judge
    tuned_lm, tokenizer = load_model_with_adapter(candidate.local, adapter)
    proxy = judge_proxy(tuned_lm, tokenizer, heldout, judge, repeats=options.judge_repeats,
                        max_new_tokens=options.judge_max_new_tokens, seed=seed)
    del tuned_lm
    log(f"{candidate.model_id}: judge-score proxy {proxy['judge_proxy_score']:.4f} (higher is better; "
        f"{NOT_REPRODUCIBLE})")
    return {"judge_proxy": proxy}


def validate(candidate: Candidate, heldout: list[dict], *, work_dir: Path, context_length: int,
             log: Callable[[str], None] = _quiet, kind: str = "lora", options: TrainOptions | None = None,
             seed: int = 0) -> dict:
    """Step 6: held-out bits per byte of the base model alone and with its adapter, as the validator scores them.

    For ``llm_judge`` tasks (``kind``) the bits per byte uses the tokenizer's chat
    template (the validator's formula, not its score), and ``options.judge``
    adds a local proxy of the judge score. Both models are loaded fresh (never
    the trained object); the scores go to ``work_dir/validation-<model>.json``.
    """
    from synthera.text.evaluation import load_model_with_adapter, validator_loss, validator_precision
    from synthera.text.finetune import load_base_model

    adapter = work_dir / _adapter_name(candidate.model_id)
    loss_task = kind != "llm_judge"  # loss tasks: the validator's own settings (fp16 on a GPU, 4.49 byte rule)
    template = candidate.template if loss_task else None
    base_lm, tokenizer = load_base_model(candidate.local)
    base_lm = validator_precision(base_lm, fp16=loss_task)
    base = validator_loss(base_lm, tokenizer, heldout, template=template, context_length=context_length,
                          parity=loss_task)
    del base_lm
    tuned_lm, tokenizer = load_model_with_adapter(candidate.local, adapter, fp16=loss_task)
    tuned = validator_loss(tuned_lm, tokenizer, heldout, template=template, context_length=context_length,
                           parity=loss_task)
    del tuned_lm
    scores = {"heldout_bits_per_byte_base": base["bits_per_byte"], "heldout_bits_per_byte": tuned["bits_per_byte"],
              "heldout_without_target": tuned["without_target"]}
    if kind == "llm_judge":
        scores.update(_judge_scores(candidate, heldout, adapter, options or TrainOptions(), seed, log))
    _write_json(scores, work_dir / f"validation-{_slug(candidate.model_id)}.json")
    log(f"{candidate.model_id}: held-out bits per byte {base['bits_per_byte']:.4f} (base) -> "
        f"{tuned['bits_per_byte']:.4f} (with adapter)")
    return scores


def submission_base_model(kind: str, base_id: str) -> str:
    """The ``base_model`` field to send: the validator template for loss tasks, the hub id for judge tasks."""
    from synthera.flock.bases import JUDGE, check_base
    from synthera.text.prompts import template_for_model

    check_base(base_id, kind, what="the adapter's base")
    return base_id if kind == JUDGE else template_for_model(base_id)


def submit(task, chosen: dict, options: SubmitOptions, *, client, work_dir: Path,
           log: Callable[[str], None] = _quiet) -> dict:
    """Step 7: upload the chosen adapter and submit it; with ``dry_run``, only describe what would be sent.

    The adapter's ``base_model_name_or_path`` must be on the task type's list;
    after the upload, ``repo@revision`` must be readable without credentials
    (else nothing is submitted). Returns ``repo_id``, ``revision``,
    ``submission`` and ``response`` for the report; the submission (never the
    API key) is written to ``work_dir/submission.json``.
    """
    from synthera.flock.bases import task_kind
    from synthera.flock.client import API_KEY_ENV, scrub_payload, submission_body

    kind = task_kind(task.task_type, task_id=task.id)
    config_path = Path(chosen["adapter_dir"]) / "adapter_config.json"
    base = adapter_base(json.loads(config_path.read_text(encoding="utf-8")), str(config_path))
    base_model = submission_base_model(kind, base)
    if kind == "lora" and chosen.get("template") not in (None, base_model):
        raise UserInputError(f"the adapter was trained with template {chosen['template']} but FLock's validator "
                             f"scores {base} with {base_model}; retrain with template {base_model}")
    repo = options.repo_id or _default_repo_id(task.id, chosen["model_id"], dry_run=options.dry_run)
    fields = {"hg_repo_id": repo, "base_model": base_model, "gpu_type": options.gpu or gpu_type()}
    out = {"repo_id": repo, "revision": None, "response": None}
    if options.dry_run:
        key_state = "set" if os.environ.get(API_KEY_ENV, "").strip() else "not set"
        out["submission"] = {
            "method": "POST", "url": client.url + "/tasks/submit-result",
            "headers": {"Content-Type": "application/json", "flock-api-key": f"<from {API_KEY_ENV}: {key_state}>"},
            "json": submission_body(task.id, revision="<commit id of the upload>", **fields),
            "upload": {"repo_id": repo, "files": ["adapter_config.json", "adapter_model.safetensors"],
                       "from": chosen["adapter_dir"]},
        }
        log("dry run: stopping before the upload")
    else:
        out["revision"] = (options.uploader or hf_upload)(Path(chosen["adapter_dir"]), repo)
        log(f"uploaded the adapter to {repo} at revision {out['revision']}")
        public = (options.public_reader or read_public_adapter_config)(repo, out["revision"])
        if adapter_base(public, f"{repo}@{out['revision']}") != base:
            raise UserInputError(f"{repo}@{out['revision']} holds an adapter for another base than {base}; "
                                 "check the repository and the revision")
        log(f"{repo}@{out['revision']} is readable without credentials")
        out["submission"] = submission_body(task.id, revision=out["revision"], **fields)
        out["response"] = scrub_payload(client.submit_result(task.id, revision=out["revision"], **fields))
        log(f"submitted to task {task.id}")
    _write_json({"submission": out["submission"], "response": out["response"]}, work_dir / "submission.json")
    return out


def _check_run(train: TrainOptions, augmentation: AugmentOptions, *, dry_run: bool) -> None:
    from synthera.flock.client import API_KEY_ENV

    if not 0 < train.holdout < 1:
        raise UserInputError(f"holdout must lie strictly between 0 and 1; got {train.holdout}")
    if augmentation.n < 0:
        raise UserInputError(f"augment must be >= 0; got {augmentation.n}")
    if train.max_models < 1:
        raise UserInputError(f"max_models must be >= 1; got {train.max_models}")
    if train.judge_repeats < 1 or train.judge_max_new_tokens < 1:
        raise UserInputError("judge_repeats and judge_max_new_tokens must be >= 1")
    if not dry_run and not os.environ.get(API_KEY_ENV, "").strip():
        raise UserInputError(f"{API_KEY_ENV} is not set; export your FLock API key, or use dry_run")
    for module in ("transformers", "peft", "safetensors", "huggingface_hub"):
        require(module, "text")  # one line naming the extra now, not a traceback after the download


def _candidate_entry(cand: Candidate, tuner, scores: dict, work_dir: Path) -> dict:
    return {"model_id": cand.model_id, "template": tuner.template, "params": cand.params,
            "adapter_dir": str(work_dir / _adapter_name(cand.model_id)), "train_loss_first": tuner.losses_[0],
            "train_loss_last": tuner.losses_[-1], "steps": tuner.steps_, **scores}


def _rank(entry: dict) -> tuple:
    """Best first: the highest judge-score proxy when there is one, else the lowest held-out bits per byte."""
    proxy = entry.get("judge_proxy")
    return (-proxy["judge_proxy_score"] if proxy else 0.0, entry["heldout_bits_per_byte"])


def run_task(task_id, *, work_dir: str | os.PathLike, client=None, data: str | os.PathLike | None = None,
             train: TrainOptions = TrainOptions(), augmentation: AugmentOptions = AugmentOptions(),
             submission: SubmitOptions = SubmitOptions(), seed: int = 0, download_fn: Callable | None = None,
             progress: bool = False, log: Callable[[str], None] = _quiet) -> RunReport:
    """Fetch FLock task ``task_id``, train, validate locally and submit: the seven steps in order.

    ``work_dir`` holds every step's output (a re-run resumes training there); ``data`` replaces the
    task's download; ``client`` defaults to a :class:`~synthera.flock.client.FlockClient` for
    ``$FLOCK_API_BASE_URL``; ``seed`` seeds the split, the augmentation and (unless
    ``train.finetune_params`` says otherwise) training; ``log`` receives one scrubbed line per step.
    """
    from synthera.flock.bases import JUDGE, task_kind
    from synthera.flock.client import FlockClient
    from synthera.io import model_folder
    from synthera.text.judge import NOT_REPRODUCIBLE

    _check_run(train, augmentation, dry_run=submission.dry_run)
    client = client or FlockClient()
    work = model_folder(work_dir)
    log = _scrubbed(log)  # task titles and phases come from the server
    task = fetch_task(task_id, client=client, work_dir=work, dry_run=submission.dry_run, log=log)
    split = prepare_data(task, work_dir=work, holdout=train.holdout, seed=seed, data=data, download_fn=download_fn,
                         log=log)
    extra = augment(augmentation, work_dir=work, seed=seed, log=log)
    examples = split.train + extra
    context = task.context_length
    length = min(train.max_length or context or 2048, context or train.max_length or 2048)
    params = {"seed": seed, **(train.finetune_params or {})}
    kind = task_kind(task.task_type, task_id=task.id)
    report = RunReport(task=task.summary(), train_examples=len(examples), heldout_examples=len(split.heldout),
                       augmented=len(extra), dry_run=submission.dry_run, task_kind=kind,
                       note=NOT_REPRODUCIBLE if kind == JUDGE else None)
    train_step = training_step(task)
    for cand in pick_candidates(task, work_dir=work, candidates=train.candidates, max_models=train.max_models,
                                log=log):
        tuner = train_step(cand, examples, work_dir=work, max_length=length, finetune_params=params,
                           progress=progress, log=log)
        scores = validate(cand, split.heldout, work_dir=work, context_length=context or length, log=log, kind=kind,
                          options=train, seed=seed)
        report.candidates.append(_candidate_entry(cand, tuner, scores, work))
    report.chosen = min(report.candidates, key=_rank)
    for key, value in submit(task, report.chosen, submission, client=client, work_dir=work, log=log).items():
        setattr(report, key, value)
    return report


def dumps_report(report: RunReport) -> str:
    """The report as indented JSON, scrubbed of anything that looks like a secret."""
    from synthera.flock.client import scrub

    return scrub(json.dumps(report.to_dict(), indent=2, default=str))

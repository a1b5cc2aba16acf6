"""LoRA and QLoRA fine-tuning of a local causal language model on FLock-format conversations.

:class:`LoraFinetuner` trains a PEFT LoRA adapter with a plain PyTorch loop
that runs on CPU (and on a GPU when one is there):

- the loss covers only assistant tokens (everything else is labelled -100),
  conversations are truncated to ``max_length`` tokens and rendered with the
  base model's chat template, or with one of FLock's validator templates so
  the training matches how a submission is scored;
- ``quantize="4bit"`` loads the frozen base weights as bitsandbytes NF4
  (QLoRA), ``"8bit"`` as LLM.int8; both work on CPU with bitsandbytes >= 0.48;
- a checkpoint (adapter, optimizer state and RNG state, all safetensors plus
  JSON) is written every ``save_every`` optimizer steps; running the same
  command again resumes from it;
- the result is the adapter only (``adapter_config.json`` and
  ``adapter_model.safetensors``), which is what FLock's validator loads.

A pitfall this module guards against: a 4-bit model that has run a forward
pass under ``torch.no_grad()`` on CPU has its weights repacked, and LoRA
training on it afterwards silently gets zero gradients. :meth:`LoraFinetuner.fit`
therefore always loads a fresh model, never evaluates it before training, and
stops with an error when the first step's adapter gradients are all zero.

>>> from synthera.text.finetune import LoraFinetuner
>>> tuner = LoraFinetuner(lora_r=8, epochs=1, max_length=512)                 # doctest: +SKIP
>>> tuner.fit("train.jsonl", model="smollm2", out="adapter/")                 # doctest: +SKIP
>>> tuner.losses_[:3]                                                         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from synthera._estimator import Estimator, Interval, OneOf, Rule, Whole
from synthera._extras import require
from synthera.errors import UserInputError

__all__ = [
    "QUANTIZE_CHOICES",
    "LoraFinetuner",
    "finetune",
    "load_base_model",
    "read_conversations",
    "target_logits",
]

QUANTIZE_CHOICES = ("none", "8bit", "4bit")
_CHECKPOINT = "checkpoint"
_STATE = "trainer_state.json"
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
_FORMAT_VERSION = 1


# --------------------------------------------------------------------------- data


def read_conversations(data, *, limit: int | None = None) -> list[dict]:
    """FLock-format conversations from a JSONL file, or a list of dicts passed through.

    Each line must be a JSON object with a ``conversations`` list; blank lines
    are skipped. A malformed line is a :class:`UserInputError` naming it.
    """
    from synthera.text.prompts import split_conversation

    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser()
        if not path.is_file():
            raise UserInputError(f"training data not found: {path}; check the path or make it with "
                                 "`synthera text generate`")
        records = []
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserInputError(
                        f"{path} line {number} is not valid JSON ({exc.msg}); fix or drop it") from None
                split_conversation(record, where=f"{path} line {number}")
                records.append(record)
                if limit is not None and len(records) >= limit:
                    break
    else:
        records = list(data)
        for i, record in enumerate(records):
            split_conversation(record, where=f"record {i}")
        records = records[:limit] if limit is not None else records
    if not records:
        raise UserInputError("the training data has no conversations; give at least one line")
    return records


def _data_digest(records: list[dict]) -> str:
    digest = hashlib.sha256()
    for record in records:
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


# --------------------------------------------------------------------------- model


def _model_dir(model) -> Path:
    from synthera.text.models import local_model_dir

    return local_model_dir(model)


def load_base_model(model=None, *, quantize: str = "none", for_training: bool = False):
    """Load ``(model, tokenizer)`` from a local folder, optionally quantized with bitsandbytes.

    Parameters
    ----------
    model
        A local Hugging Face folder, or ``None``/``"smollm2"`` for the bundled SmolLM2-135M-Instruct.
    quantize
        ``"none"`` (fp32), ``"8bit"`` (LLM.int8) or ``"4bit"`` (NF4, QLoRA).
    for_training
        Leave the model in train mode with the KV cache off.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if quantize not in QUANTIZE_CHOICES:
        raise UserInputError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}; got {quantize!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    folder = _model_dir(model)
    kwargs: dict = {"dtype": torch.float32}
    if quantize != "none":
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig
        except ImportError:
            raise UserInputError(f"quantize {quantize!r} needs bitsandbytes >= 0.48; run "
                                 "`pip install bitsandbytes`, or use quantize='none'") from None
        if quantize == "4bit":
            config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                        bnb_4bit_compute_dtype=torch.float32, bnb_4bit_use_double_quant=False)
        else:
            config = BitsAndBytesConfig(load_in_8bit=True)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        kwargs.update(quantization_config=config, device_map={"": device})
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    if quantize == "none" and torch.cuda.is_available():
        lm = lm.to("cuda")
    if for_training:
        lm.config.use_cache = False
        lm.train()
    else:
        lm.eval()
    return lm, tokenizer


# --------------------------------------------------------------------------- the trainer


class LoraFinetuner(Estimator):
    """Train a LoRA adapter on FLock-format conversations.

    Parameters
    ----------
    lora_r, lora_alpha, lora_dropout
        LoRA rank, scaling numerator and dropout.
    target_modules
        Names of the linear layers that get adapters (``q_proj``, ``v_proj``, ...).
    quantize
        ``"none"``, ``"8bit"`` or ``"4bit"`` (QLoRA with NF4 base weights).
    epochs
        Passes over the data.
    max_length
        Context length: longer conversations are cut to this many tokens.
    batch_size, grad_accum
        Conversations per forward pass, and forward passes per optimizer step.
    learning_rate, warmup_ratio, weight_decay, max_grad_norm
        AdamW with linear warm-up then linear decay to zero; gradient clipping.
    template
        ``None`` renders with the base model's chat template; a FLock
        validator template name (``qwen1.5``, ``llama3``, ...) renders as
        the validator does.
    seed
        Seeds the adapter's initialisation, dropout and the data order.
    save_every
        Write a checkpoint every this many optimizer steps (0: only at the end of each epoch).
    max_steps
        Stop after this many optimizer steps (for smoke runs and budgets).
    """

    _parameter_constraints = {
        "lora_r": Whole(1),
        "lora_alpha": Whole(1),
        "lora_dropout": Interval(0, 1, closed="left"),
        "target_modules": Rule(lambda v: not isinstance(v, str) and len(v) > 0 and all(isinstance(m, str) for m in v),
                               "name at least one layer, e.g. ('q_proj', 'v_proj')"),
        "quantize": OneOf(QUANTIZE_CHOICES),
        "epochs": Whole(1),
        "max_length": Whole(8),
        "batch_size": Whole(1),
        "grad_accum": Whole(1),
        "learning_rate": Interval(0),
        "warmup_ratio": Interval(0, 1, closed="left"),
        "weight_decay": Interval(0, closed="left"),
        "max_grad_norm": Interval(0),
        "seed": Whole(0),
        "save_every": Whole(0),
        "max_steps": Whole(1, optional=True),
    }

    def __init__(
        self,
        *,
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_dropout: float = 0.05,
        target_modules: Sequence[str] = ("q_proj", "v_proj"),
        quantize: str = "none",
        epochs: int = 1,
        max_length: int = 512,
        batch_size: int = 4,
        grad_accum: int = 1,
        learning_rate: float = 2e-4,
        warmup_ratio: float = 0.05,
        weight_decay: float = 0.0,
        max_grad_norm: float = 1.0,
        template: str | None = None,
        seed: int = 0,
        save_every: int = 50,
        max_steps: int | None = None,
    ):
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.target_modules = target_modules
        self.quantize = quantize
        self.epochs = epochs
        self.max_length = max_length
        self.batch_size = batch_size
        self.grad_accum = grad_accum
        self.learning_rate = learning_rate
        self.warmup_ratio = warmup_ratio
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.template = template
        self.seed = seed
        self.save_every = save_every
        self.max_steps = max_steps

    # ------------------------------------------------------------------ settings

    def _check_extra(self) -> None:
        if self.template is not None:
            from synthera.text.prompts import get_template

            get_template(self.template)

    # ------------------------------------------------------------------ training

    def fit(self, data, *, model=None, out, resume: bool = True, progress: bool = False,
            base_model_id: str | None = None, limit: int | None = None) -> LoraFinetuner:
        """Train the adapter and save it to ``out``.

        Parameters
        ----------
        data
            A FLock-format JSONL file, or a list of conversation dicts.
        model
            A local model folder, or ``None``/``"smollm2"`` for the bundled SmolLM2-135M-Instruct.
        out
            Folder for the adapter (and, while training, ``checkpoint/``).
        resume
            Continue from ``out/checkpoint`` when it was written with the same
            settings and data (otherwise start over).
        progress
            Draw a progress bar on stderr.
        base_model_id
            What ``adapter_config.json`` records as ``base_model_name_or_path``
            (a hub id such as ``Qwen/Qwen2.5-0.5B-Instruct`` for FLock);
            default: the local model folder.
        limit
            Use only the first ``limit`` conversations.

        Returns
        -------
        LoraFinetuner
            ``self``, with ``losses_`` (mean training loss per optimizer step),
            ``steps_``, ``examples_``, ``skipped_`` (conversations with no
            assistant token left after truncation), ``truncated_``,
            ``target_tokens_``, ``seconds_``, ``resumed_from_`` and ``adapter_dir_``.
        """
        import torch

        from synthera._progress import progress_bar
        from synthera.io import model_folder

        self.check_params()
        records = read_conversations(data, limit=limit)
        out = model_folder(out)
        start_time = time.perf_counter()
        torch.manual_seed(self.seed)
        lm, tokenizer = load_base_model(model, quantize=self.quantize, for_training=True)
        encoded, skipped, truncated = self._encode(records, tokenizer)
        lm = self._wrap(lm)
        device = next(p for p in lm.parameters() if p.requires_grad).device
        steps_per_epoch, total_steps = self._schedule(len(encoded))
        trainable = [p for p in lm.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=self.learning_rate, weight_decay=self.weight_decay)
        fingerprint = {"params": self.get_params(), "data": _data_digest(records),
                       "model": str(_model_dir(model)), "limit": limit}
        checkpoint = out / _CHECKPOINT
        resumed = self._resume(checkpoint, fingerprint, lm, optimizer, trainable) if resume else None
        step, losses = resumed if resumed is not None else (0, [])
        self.resumed_from_ = step if resumed is not None else None
        batch = {"lm": lm, "optimizer": optimizer, "trainable": trainable, "encoded": encoded, "device": device,
                 "pad_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id}

        with progress_bar(total_steps, "training LoRA", enabled=progress) as advance:
            advance(step)
            first = True
            while step < total_steps:
                epoch, within = divmod(step, steps_per_epoch)
                micro = self._batches(encoded, epoch)[within * self.grad_accum: (within + 1) * self.grad_accum]
                losses.append(self._train_step(micro, lr=self.learning_rate * self._lr_factor(step, total_steps),
                                               check_gradients=first, **batch))
                first = False
                step += 1
                advance(1)
                end_of_epoch = step % steps_per_epoch == 0
                if step < total_steps and ((self.save_every and step % self.save_every == 0) or end_of_epoch):
                    self._save_checkpoint(checkpoint, lm, optimizer, trainable, step, losses, fingerprint)
        self._save_adapter(lm, out, base_model_id or str(_model_dir(model)))
        shutil.rmtree(checkpoint, ignore_errors=True)
        self.losses_, self.steps_, self.adapter_dir_ = losses, step, out
        self.examples_, self.skipped_, self.truncated_ = len(encoded), skipped, truncated
        self.target_tokens_ = sum(sum(e.target_mask) for e in encoded)
        self.seconds_ = time.perf_counter() - start_time
        self._write_summary(out, fingerprint)
        return self

    def _encode(self, records, tokenizer) -> tuple[list, int, int]:
        """Tokenised conversations cut to ``max_length``; those left without an assistant token are skipped."""
        from synthera.text.prompts import encode_conversation

        encoded, skipped, truncated = [], 0, 0
        for i, record in enumerate(records):
            full = encode_conversation(record, tokenizer, template=self.template, where=f"conversation {i}")
            enc = full
            if len(full.input_ids) > self.max_length:
                truncated += 1
                enc = type(full)(full.input_ids[: self.max_length], full.target_mask[: self.max_length])
            # the first token is never predicted, so a target there alone does not count
            if sum(enc.target_mask[1:]) == 0:
                skipped += 1
                continue
            encoded.append(enc)
        if not encoded:
            raise UserInputError(f"no conversation keeps an assistant token within max_length {self.max_length}; "
                                 "raise max_length")
        return encoded, skipped, truncated

    def _schedule(self, examples: int) -> tuple[int, int]:
        """Optimizer steps per epoch and in all (``max_steps`` caps the total)."""
        batches_per_epoch = math.ceil(examples / self.batch_size)
        steps_per_epoch = math.ceil(batches_per_epoch / self.grad_accum)
        total_steps = steps_per_epoch * self.epochs
        if self.max_steps is not None:
            total_steps = min(total_steps, self.max_steps)
        return steps_per_epoch, total_steps

    def _lr_factor(self, step: int, total_steps: int) -> float:
        """Linear warm-up over ``warmup_ratio`` of the steps, then linear decay to zero."""
        warmup = round(self.warmup_ratio * total_steps)
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    def _resume(self, checkpoint: Path, fingerprint: dict, lm, optimizer, trainable) -> tuple[int, list] | None:
        """The step and losses of a checkpoint written with the same settings and data, else ``None``."""
        if not (checkpoint / _STATE).is_file():
            return None
        state = json.loads((checkpoint / _STATE).read_text(encoding="utf-8"))
        if state.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            return None
        return self._load_checkpoint(checkpoint, state, lm, optimizer, trainable)

    def _train_step(self, micro, *, lm, optimizer, trainable, encoded, pad_id, device, lr: float,
                    check_gradients: bool) -> float:
        """One optimizer step over ``micro`` (a list of batches); returns the mean loss per target token."""
        import torch

        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        n_target = sum(sum(encoded[i].target_mask[1:]) for batch in micro for i in batch)
        step_loss = 0.0
        for batch in micro:
            input_ids, attention, labels = _collate([encoded[i] for i in batch], pad_id, device)
            logits, targets = target_logits(lm, input_ids, attention, labels)
            token_loss = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
            (token_loss / n_target).backward()
            step_loss += float(token_loss.detach())
        if check_gradients and all(p.grad is None or not bool(p.grad.abs().sum() > 0) for p in trainable):
            raise RuntimeError(
                "the adapter's gradients are all zero; with a quantized base on CPU this happens after "
                "a forward pass under torch.no_grad(). Load a fresh model for training"
            )
        if self.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(trainable, self.max_grad_norm)
        optimizer.step()
        return step_loss / n_target

    def _wrap(self, lm):
        from peft import LoraConfig, get_peft_model

        if self.quantize != "none":
            from peft import prepare_model_for_kbit_training

            lm = prepare_model_for_kbit_training(lm, use_gradient_checkpointing=False)
        names = {name.rsplit(".", 1)[-1] for name, _ in lm.named_modules()}
        missing = [m for m in self.target_modules if m not in names]
        if missing:
            linear = sorted({n.rsplit(".", 1)[-1] for n, mod in lm.named_modules()
                             if type(mod).__name__.startswith("Linear") and "." in n})
            raise UserInputError(f"target_modules {','.join(missing)} not found in the model; "
                                 f"its linear layers are {','.join(linear)}")
        config = LoraConfig(r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                            target_modules=list(self.target_modules), task_type="CAUSAL_LM", bias="none")
        lm = get_peft_model(lm, config)
        lm.train()
        return lm

    def _batches(self, encoded, epoch: int) -> list[list[int]]:
        """Batches for one epoch: shuffled, then grouped by length to waste less padding."""
        import numpy as np

        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(encoded)).tolist()
        chunk = self.batch_size * 16
        batches = []
        for start in range(0, len(order), chunk):
            block = sorted(order[start:start + chunk], key=lambda i: len(encoded[i].input_ids))
            batches += [block[k:k + self.batch_size] for k in range(0, len(block), self.batch_size)]
        perm = rng.permutation(len(batches)).tolist()
        return [batches[i] for i in perm]

    # ------------------------------------------------------------------ saving

    def _save_checkpoint(self, folder: Path, lm, optimizer, trainable, step, losses, fingerprint) -> None:
        from synthera.io import atomic_path, write_text

        torch = require("torch", "text")
        get_peft_model_state_dict = require("peft", "text").get_peft_model_state_dict
        save_file = require("safetensors.torch", "text").save_file

        folder.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(lm).items()}
        tensors: dict = {}
        for i, p in enumerate(trainable):
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value):
                    tensors[f"{i}.{key}"] = value.detach().cpu().contiguous()
        tensors["rng.cpu"] = torch.get_rng_state()
        with atomic_path(folder / "adapter_model.safetensors") as tmp:
            save_file(weights, str(tmp))
        with atomic_path(folder / "optimizer.safetensors") as tmp:
            save_file(tensors, str(tmp))
        state = {"format_version": _FORMAT_VERSION, "step": step, "losses": losses, "fingerprint": fingerprint}
        write_text(json.dumps(state), folder / _STATE)  # last: a checkpoint counts only once this exists

    def _load_checkpoint(self, folder: Path, state, lm, optimizer, trainable) -> tuple[int, list[float]]:
        torch = require("torch", "text")
        set_peft_model_state_dict = require("peft", "text").set_peft_model_state_dict
        load_file = require("safetensors.torch", "text").load_file
        weights = load_file(str(folder / "adapter_model.safetensors"))
        set_peft_model_state_dict(lm, weights)
        tensors = load_file(str(folder / "optimizer.safetensors"))
        for i, p in enumerate(trainable):
            entry = {key.split(".", 1)[1]: value.to(p.device) for key, value in tensors.items()
                     if key.split(".", 1)[0] == str(i)}
            if entry:
                if "step" in entry:
                    entry["step"] = entry["step"].cpu()
                optimizer.state[p] = entry
        torch.set_rng_state(tensors["rng.cpu"])
        return int(state["step"]), list(state["losses"])

    def _save_adapter(self, lm, out: Path, base_model: str) -> None:
        import tempfile

        from synthera.io import default_file_mode

        tmp = Path(tempfile.mkdtemp(prefix=".adapter.", dir=out))
        try:
            lm.save_pretrained(str(tmp), safe_serialization=True)
            config_path = tmp / "adapter_config.json"
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config["base_model_name_or_path"] = base_model
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
            for name in _ADAPTER_FILES:
                os.chmod(tmp / name, default_file_mode())  # some writers make 0600 files; give the usual mode
                os.replace(tmp / name, out / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _write_summary(self, out: Path, fingerprint: dict) -> None:
        from synthera import __version__
        from synthera.io import write_text

        summary = {
            "format_version": _FORMAT_VERSION, "synthera_version": __version__, "params": self.get_params(),
            "model": fingerprint["model"], "data_sha256": fingerprint["data"], "steps": self.steps_,
            "examples": self.examples_, "skipped": self.skipped_, "truncated": self.truncated_,
            "target_tokens": self.target_tokens_, "seconds": round(self.seconds_, 2),
            "resumed_from": self.resumed_from_, "losses": [round(x, 5) for x in self.losses_],
        }
        write_text(json.dumps(summary, indent=2) + "\n", out / "training.json")


def target_logits(lm, input_ids, attention_mask, labels):
    """Logits at the positions that predict a target token, and those targets: ``(logits[N, V], targets[N])``.

    Only those positions go through the output layer (a 49k-word vocabulary
    times every prompt token would dominate memory); models whose head does
    more than one linear layer (e.g. logit soft-capping) take the plain path.
    """
    shifted = labels[:, 1:]
    keep = shifted != -100
    base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
    decoder = getattr(base, "get_decoder", lambda: None)()
    head = base.get_output_embeddings()
    plain_head = decoder is not None and head is not None and not getattr(base.config, "final_logit_softcapping", None)
    if plain_head:
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return head(hidden[:, :-1][keep]), shifted[keep]
    logits = lm(input_ids=input_ids, attention_mask=attention_mask).logits
    return logits[:, :-1][keep], shifted[keep]


def _collate(items, pad_id: int, device):
    import torch

    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids, dtype=torch.long)
        attention[row, :n] = 1
        labels[row, :n] = torch.tensor(e.labels, dtype=torch.long)
    return ids.to(device), attention.to(device), labels.to(device)


def finetune(data, *, model=None, out, progress: bool = False, resume: bool = True, base_model_id: str | None = None,
             limit: int | None = None, **params) -> LoraFinetuner:
    """Shorthand for ``LoraFinetuner(**params).fit(data, model=model, out=out, ...)``."""
    return LoraFinetuner(**params).fit(data, model=model, out=out, progress=progress, resume=resume,
                                       base_model_id=base_model_id, limit=limit)

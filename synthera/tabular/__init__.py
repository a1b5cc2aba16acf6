"""Tabular synthesizers: learn from a real table, sample synthetic rows.

The registry is explicit: every synthesizer is registered below by name, and
:func:`register_synthesizer` refuses to replace one by accident.

>>> from synthera.tabular import available_synthesizers, get_synthesizer
>>> available_synthesizers()
['cascade', 'gaussian_copula', 'ctgan', 'tvae', 'dp_marginals', 'dp_ctgan']
>>> Model = get_synthesizer("cascade")
"""

from __future__ import annotations

from synthera.errors import UserInputError
from synthera.tabular.base import _BY_CLASS, _BY_NAME, Synthesizer
from synthera.tabular.cascade import CascadeSynthesizer
from synthera.tabular.copula import GaussianCopulaSynthesizer
from synthera.tabular.ctgan import CTGANSynthesizer
from synthera.tabular.dp_marginals import DPMarginalsSynthesizer
from synthera.tabular.dpctgan import DPCTGANSynthesizer
from synthera.tabular.tvae import TVAESynthesizer

__all__ = [
    "DEFAULT_SYNTHESIZER",
    "CTGANSynthesizer",
    "DPCTGANSynthesizer",
    "DPMarginalsSynthesizer",
    "CascadeSynthesizer",
    "GaussianCopulaSynthesizer",
    "TVAESynthesizer",
    "Synthesizer",
    "available_synthesizers",
    "get_synthesizer",
    "load_synthesizer",
    "register_synthesizer",
]

DEFAULT_SYNTHESIZER = "cascade"


def register_synthesizer(cls: type[Synthesizer], name: str, *, replace: bool = False) -> type[Synthesizer]:
    """Register ``cls`` under ``name``; refuses to overwrite unless ``replace=True``.

    The class itself is left unchanged: its ``name`` is read from the
    registry, and a class is registered under one name only (a model saves
    that name, so a fresh process must find the same class under it).
    """
    if not (isinstance(cls, type) and issubclass(cls, Synthesizer)):
        raise TypeError(f"{cls!r} is not a Synthesizer subclass")
    if not isinstance(name, str) or not name:
        raise ValueError(f"a synthesizer name must be a non-empty string; got {name!r}")
    current = _BY_CLASS.get(cls)
    if current is not None and current != name:
        raise ValueError(f"{cls.__name__} is already registered as '{current}'; a class has one name")
    if name in _BY_NAME and not replace:
        raise ValueError(f"a synthesizer named '{name}' is already registered")
    previous = _BY_NAME.get(name)
    if previous is not None:
        _BY_CLASS.pop(previous, None)
    _BY_NAME[name] = cls
    _BY_CLASS[cls] = name
    return cls


def get_synthesizer(name: str) -> type[Synthesizer]:
    """The synthesizer class registered as ``name``."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise UserInputError(
            f"unknown model '{name}'; available models are: {', '.join(_BY_NAME)}"
        ) from None


def available_synthesizers() -> list[str]:
    """Registered names, in registration order (the default first)."""
    return list(_BY_NAME)


def load_synthesizer(path) -> Synthesizer:
    """Load any saved synthesizer; the manifest says which class it is."""
    return Synthesizer.load(path)


register_synthesizer(CascadeSynthesizer, "cascade")
register_synthesizer(GaussianCopulaSynthesizer, "gaussian_copula")
register_synthesizer(CTGANSynthesizer, "ctgan")
register_synthesizer(TVAESynthesizer, "tvae")
register_synthesizer(DPMarginalsSynthesizer, "dp_marginals")
register_synthesizer(DPCTGANSynthesizer, "dp_ctgan")

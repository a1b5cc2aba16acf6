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
from synthera.tabular.base import Synthesizer
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
_REGISTRY: dict[str, type[Synthesizer]] = {}


def register_synthesizer(cls: type[Synthesizer], name: str, *, replace: bool = False) -> type[Synthesizer]:
    """Register ``cls`` under ``name``; refuses to overwrite unless ``replace=True``."""
    if not (isinstance(cls, type) and issubclass(cls, Synthesizer)):
        raise TypeError(f"{cls!r} is not a Synthesizer subclass")
    if name in _REGISTRY and not replace:
        raise ValueError(f"a synthesizer named '{name}' is already registered")
    cls.name = name
    _REGISTRY[name] = cls
    return cls


def get_synthesizer(name: str) -> type[Synthesizer]:
    """The synthesizer class registered as ``name``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UserInputError(
            f"unknown model '{name}'; available models are: {', '.join(_REGISTRY)}"
        ) from None


def available_synthesizers() -> list[str]:
    """Registered names, in registration order (the default first)."""
    return list(_REGISTRY)


def load_synthesizer(path) -> Synthesizer:
    """Load any saved synthesizer; the manifest says which class it is."""
    return Synthesizer.load(path)


register_synthesizer(CascadeSynthesizer, "cascade")
register_synthesizer(GaussianCopulaSynthesizer, "gaussian_copula")
register_synthesizer(CTGANSynthesizer, "ctgan")
register_synthesizer(TVAESynthesizer, "tvae")
register_synthesizer(DPMarginalsSynthesizer, "dp_marginals")
register_synthesizer(DPCTGANSynthesizer, "dp_ctgan")

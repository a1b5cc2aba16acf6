"""The estimator layer every Synthera model shares: parameters, their checks, and the DP-seed rule.

:class:`Estimator` follows scikit-learn's conventions:

* parameters are the constructor's named arguments (:meth:`Estimator.param_names`),
  stored unchanged by the constructor (it validates nothing);
* :meth:`Estimator.get_params` and ``repr`` show them as stored;
* :meth:`Estimator.check_params` validates them against the class's
  declarative table ``_parameter_constraints`` (``{name: constraint}``, in
  the spirit of scikit-learn's ``_parameter_constraints``), then runs the
  class's ``_check_extra`` hook for rules across parameters. ``fit`` calls it
  first; callers may call it earlier to refuse settings before reading data.
  A broken rule raises one :class:`~synthera.errors.UserInputError` line,
  ``"<name> must <rule>; got <value>"``.

The DP-seed rule
----------------
A class with ``differentially_private = True`` draws its noise from
:meth:`Estimator.noise_seed`: with ``seed=None`` (the default every such
class must have; this is checked when the class is defined) the noise comes
from the operating system's entropy, so nobody can regenerate it; a given
seed makes the noise reproducible, which is for tests only. Other estimators
read ``seed=None`` as 0.

Examples
--------
>>> class Toy(Estimator):
...     _parameter_constraints = {"epochs": Whole(1)}
...     def __init__(self, *, epochs: int = 3, seed: int = 0):
...         self.epochs, self.seed = epochs, seed
>>> Toy.param_names()
['epochs', 'seed']
>>> Toy(epochs=5)
Toy(epochs=5, seed=0)
>>> Toy(epochs=0).check_params()
Traceback (most recent call last):
...
synthera.errors.UserInputError: epochs must be a whole number >= 1; got 0
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from synthera.errors import UserInputError

__all__ = ["Constraint", "Estimator", "Interval", "OneOf", "Rule", "Whole", "noise_seed"]


class Constraint:
    """One parameter's rule: :meth:`accepts` a value, :meth:`rule` says what is expected."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def rule(self) -> str:
        raise NotImplementedError

    def check(self, name: str, value: Any) -> None:
        """Raise ``UserInputError("<name> must <rule>; got <value>")`` unless ``value`` is accepted."""
        if not self.accepts(value):
            raise UserInputError(f"{name} must {self.rule()}; got {value!r}")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


@dataclass(frozen=True)
class Whole(Constraint):
    """A whole number ``>= minimum``; ``None`` too when ``optional``."""

    minimum: int = 1
    optional: bool = False

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= self.minimum

    def rule(self) -> str:
        return f"be a whole number >= {self.minimum}" + (" or None" if self.optional else "")


@dataclass(frozen=True)
class Interval(Constraint):
    """A number above ``low`` (and below ``high``); ``closed`` says which ends are allowed.

    ``closed`` is ``"neither"``, ``"left"``, ``"right"`` or ``"both"``;
    ``finite`` refuses infinities; ``says`` replaces the generated rule text.
    """

    low: float | None = None
    high: float | None = None
    closed: str = "neither"
    finite: bool = False
    optional: bool = False
    says: str | None = None

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if not _is_number(value) or math.isnan(value) or (self.finite and math.isinf(value)):
            return False
        left = self.closed in ("left", "both")
        right = self.closed in ("right", "both")
        if self.low is not None and not (value >= self.low if left else value > self.low):
            return False
        return self.high is None or (value <= self.high if right else value < self.high)

    def rule(self) -> str:
        if self.says:
            return self.says
        number = "a finite number" if self.finite else "a number"
        if self.high is None:
            return f"be {number} {'>=' if self.closed in ('left', 'both') else '>'} {self.low:g}"
        if self.closed == "neither":
            return f"be {number} between {self.low:g} and {self.high:g}"
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        return f"be {number} in {left}{self.low:g}, {self.high:g}{right}"


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of a few values."""

    choices: tuple

    def accepts(self, value: Any) -> bool:
        return any(value == c and type(value) is type(c) for c in self.choices)

    def rule(self) -> str:
        return "be one of " + ", ".join(map(str, self.choices))


@dataclass(frozen=True)
class Rule(Constraint):
    """Any predicate, with the rule text to show (e.g. ``"be a tuple of layer widths >= 1, e.g. (64,)"``)."""

    test: Callable[[Any], bool]
    says: str

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):
            return False

    def rule(self) -> str:
        return self.says


def noise_seed(seed: int | None) -> np.random.SeedSequence:
    """The root of a differentially private fit's randomness: OS entropy for ``None``, else ``seed`` (tests only)."""
    return np.random.SeedSequence(seed)  # SeedSequence(None) draws fresh entropy from the operating system


class Estimator:
    """Base of every Synthera model: parameters from the signature, declarative checks, the DP-seed rule."""

    #: True for models that spend a privacy budget; their ``seed`` must default to None (see the module docstring)
    differentially_private: ClassVar[bool] = False
    #: ``{parameter: Constraint}``, checked in this order by :meth:`check_params`
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        names = cls.param_names()
        unknown = set(cls._parameter_constraints) - set(names)
        if unknown:
            raise TypeError(f"{cls.__name__}._parameter_constraints names no parameter {sorted(unknown)[0]!r}")
        seed = inspect.signature(cls.__init__).parameters.get("seed")
        if cls.differentially_private and seed is not None and seed.default is not None:
            raise TypeError(f"{cls.__name__} is differentially private, so its seed must default to None (OS entropy)")

    # -- parameters ---------------------------------------------------------------------

    @classmethod
    def param_names(cls) -> list[str]:
        """The constructor's named parameters, in signature order (``self`` and ``*args``/``**kwargs`` left out)."""
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind in kinds]

    #: Kept until ``synthera/cli`` calls :meth:`param_names`.
    _param_names = param_names

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as stored."""
        return {name: getattr(self, name) for name in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- validation ---------------------------------------------------------------------

    @classmethod
    def _constraints(cls) -> dict[str, Constraint]:
        """The class's table, plus the seed rule where the table leaves ``seed`` out."""
        table = dict(cls._parameter_constraints)
        if "seed" in cls.param_names() and "seed" not in table:
            table["seed"] = Whole(0, optional=True)
        return table

    def check_params(self) -> None:
        """Raise :class:`~synthera.errors.UserInputError` naming the first parameter out of range.

        The table ``_parameter_constraints`` first, then ``_check_extra`` (rules across parameters).
        """
        for name, constraint in self._constraints().items():
            constraint.check(name, getattr(self, name))
        self._check_extra()

    def _check_extra(self) -> None:
        """Checks the table cannot express (rules across parameters); override to add them."""

    # -- randomness ---------------------------------------------------------------------

    def noise_seed(self) -> np.random.SeedSequence:
        """The root of every random draw of a fit.

        Differentially private classes follow the DP-seed rule: ``seed=None``
        means fresh OS entropy. Other classes read ``None`` as 0.
        """
        seed = getattr(self, "seed", None)
        if self.differentially_private:
            return noise_seed(seed)
        return np.random.SeedSequence(0 if seed is None else int(seed))

"""Differential privacy: accounting, public or DP-estimated domains, and DP-SGD training.

- :mod:`synthera.dp.accounting` calibrates DP-SGD noise and reports the ε
  spent, with Opacus's RDP accountant.
- :mod:`synthera.dp.domain` gives DP models their bounds and category sets:
  declared public in the metadata, or estimated under DP and charged to the
  same budget.
- :mod:`synthera.dp.classifier` trains an MLP classifier with DP-SGD
  (Opacus) and saves it as safetensors plus a JSON manifest.

Names are imported on first use, so importing this package does not load torch.
"""

from __future__ import annotations

from synthera._lazy import lazy_attributes

_LAZY = {
    "ACCOUNTANT": "synthera.dp.accounting",
    "BudgetTooSmall": "synthera.dp.accounting",
    "calibrate_noise": "synthera.dp.accounting",
    "default_delta": "synthera.dp.accounting",
    "epsilon_spent": "synthera.dp.accounting",
    "max_steps": "synthera.dp.accounting",
    "plan_training": "synthera.dp.accounting",
    "ColumnDomain": "synthera.dp.domain",
    "Domain": "synthera.dp.domain",
    "domain_from_metadata": "synthera.dp.domain",
    "estimate_domain": "synthera.dp.domain",
    "resolve_domain": "synthera.dp.domain",
    "DPClassifier": "synthera.dp.classifier",
    "load_classifier": "synthera.dp.classifier",
}

__all__ = [
    "ACCOUNTANT",
    "BudgetTooSmall",
    "ColumnDomain",
    "DPClassifier",
    "Domain",
    "calibrate_noise",
    "default_delta",
    "domain_from_metadata",
    "epsilon_spent",
    "estimate_domain",
    "load_classifier",
    "max_steps",
    "plan_training",
    "resolve_domain",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())

"""Bias: find where it comes from, and generate synthetic data that reduces it.

* :mod:`synthera.bias.mitigate`: balanced groups and demographic parity at
  sampling time, by conditional sampling on any fitted synthesizer;
* :mod:`synthera.bias.analysis`: group representation, base rates, the
  disparity of a model trained on the data, and proxy features of each
  sensitive column, as a report in the format of ``synthera evaluate``.
"""

from synthera.bias.mitigate import MitigationOptions, MitigationPlan, mitigated_sample, plan_mitigation

__all__ = ["MitigationOptions", "MitigationPlan", "mitigated_sample", "plan_mitigation"]

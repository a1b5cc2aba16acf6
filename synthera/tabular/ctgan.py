"""CTGAN: a conditional GAN for tables (Xu et al., NeurIPS 2019).

Written from the paper. Rows are represented as in
:class:`~synthera.tabular._neural.ModeTransformer` (mode-specific
normalisation of numbers, one-hot categories). The pieces, as in the paper:

* **conditional vector and training-by-sampling**: each training row of a
  batch starts from a condition: a discrete column picked uniformly and one
  of its codes picked with probability proportional to the log of its
  frequency, so rare categories are seen often enough to be learned. The
  generator receives the condition's one-hot; the real rows shown to the
  critic are drawn among the rows that carry it;
* **generator**: noise and condition through residual blocks
  (``h <- [ReLU(BN(W h)), h]``), then ``tanh`` for alphas and Gumbel-softmax
  (temperature 0.2) within each one-hot span. Its loss adds the
  cross-entropy between the conditioned span and the condition;
* **critic**: PacGAN, ``pac`` rows judged together, leaky ReLU and dropout,
  trained with the WGAN-GP loss (gradient penalty weight 10).

Sampling draws conditions with the real (not log) frequencies, so the
marginals come out right. A condition on a discrete column is fed through
the conditional vector, which makes rare values as cheap as common ones; a
second discrete condition is met by keeping matching rows.

Choices the paper leaves open, made here for speed and for short fits: the
generator step reuses the batch the critic has just judged (one generator
pass per step instead of two); real and generated packs carry the same
conditions in the same order; the one-hot condition enters each layer as an
embedding lookup, the same function as multiplying the one-hot without the
zeros; and the generator's output bias starts at the log frequency of each
category and mode, so even a briefly trained model keeps marginals and null
rates.

Everything random is drawn from local generators seeded from the model's
``seed`` (torch's global random state is never touched), so the same seed and
data give the same model on the same machine. Weights save as plain arrays.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from synthera._estimator import Interval, Whole
from synthera.errors import UserInputError
from synthera.tabular._neural import (
    LAYER_SIZES,
    ModeTransformer,
    SpanOps,
    adam,
    arrays_to_module,
    import_torch,
    module_to_arrays,
    torch_generator,
    torch_threads,
)
from synthera.tabular.base import Synthesizer

__all__ = ["CTGANSynthesizer"]

_GP_WEIGHT = 10.0
_TAU = 0.2
_SAMPLE_CHUNK = 20_000


class CTGANSynthesizer(Synthesizer):
    """Conditional tabular GAN (CTGAN).

    Parameters
    ----------
    epochs
        Passes over the data; each has ``rows // batch_size`` steps.
    batch_size
        Rows per step; a multiple of ``pac``.
    embedding_dim
        Size of the generator's noise input.
    generator_dim, discriminator_dim
        Hidden layer sizes (a list or tuple).
    pac
        Rows the critic judges together (PacGAN), against mode collapse.
    generator_lr, discriminator_lr
        Adam learning rates (betas 0.5, 0.9).
    weight_decay
        Adam weight decay of both networks.
    seed
        Seeds the fit: the same seed and data give the same model.

    Examples
    --------
    >>> from synthera import datasets
    >>> train, _ = datasets.load("adult")
    >>> model = CTGANSynthesizer(epochs=30).fit(train)   # doctest: +SKIP
    >>> model.sample(3, seed=0, conditions={"sex": "Female"})["sex"].tolist()   # doctest: +SKIP
    ['Female', 'Female', 'Female']
    """

    def __init__(
        self,
        *,
        epochs: int = 300,
        batch_size: int = 500,
        embedding_dim: int = 128,
        generator_dim: tuple[int, ...] | list[int] = (256, 256),
        discriminator_dim: tuple[int, ...] | list[int] = (256, 256),
        pac: int = 10,
        generator_lr: float = 2e-4,
        discriminator_lr: float = 2e-4,
        weight_decay: float = 1e-6,
        seed: int = 0,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.embedding_dim = embedding_dim
        self.generator_dim = generator_dim
        self.discriminator_dim = discriminator_dim
        self.pac = pac
        self.generator_lr = generator_lr
        self.discriminator_lr = discriminator_lr
        self.weight_decay = weight_decay
        self.seed = seed

    _parameter_constraints = {
        "epochs": Whole(1),
        "batch_size": Whole(1),
        "embedding_dim": Whole(1),
        "pac": Whole(1),
        "generator_dim": LAYER_SIZES,
        "discriminator_dim": LAYER_SIZES,
        "generator_lr": Interval(0),
        "discriminator_lr": Interval(0),
        "weight_decay": Interval(0, closed="left"),
    }

    def _check_extra(self) -> None:
        if self.batch_size % self.pac or self.batch_size < 2:
            raise UserInputError(
                f"batch_size must be a multiple of pac and at least 2; got batch_size={self.batch_size}, pac={self.pac}"
            )

    # -- networks ---------------------------------------------------------------------
    #
    # The conditional vector is one-hot, so its product with a layer's weights is
    # a column of those weights: each layer that reads the condition has a dense
    # part for the other inputs and an embedding table for the condition. The
    # networks are the paper's; this only skips multiplying by zeros (about a
    # quarter of the arithmetic of a step on Adult).

    def _build_generator(self):
        nn = import_torch().nn
        sizes, width = [int(v) for v in self.generator_dim], self.embedding_dim
        linears, norms, conds = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for size in sizes:
            linears.append(nn.Linear(width, size))
            norms.append(nn.BatchNorm1d(size))
            if self.cond_dim_:
                conds.append(nn.Embedding(self.cond_dim_, size))
            width += size
        net = {"linears": linears, "norms": norms, "out": nn.Linear(width, self.transformer_.dim)}
        if self.cond_dim_:
            net["conds"] = conds
            net["out_cond"] = nn.Embedding(self.cond_dim_, self.transformer_.dim)
        return nn.ModuleDict(net)

    def _build_critic(self):
        nn = import_torch().nn
        sizes = [self.pac * self.transformer_.dim, *map(int, self.discriminator_dim), 1]
        net = {"linears": nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))}
        if self.cond_dim_:
            net["cond"] = nn.Embedding(self.pac * self.cond_dim_, sizes[1])
        return nn.ModuleDict(net)

    def _init_weights(self, generator, critic, gen) -> None:
        """Uniform(+-1/sqrt(fan_in)) as torch's default, fan_in counting the condition; drawn from ``gen``."""
        torch = import_torch()
        c = self.cond_dim_
        layers = []  # (linear, its condition table or None, condition inputs in its fan-in)
        for k, linear in enumerate(generator["linears"]):
            layers.append((linear, generator["conds"][k] if c else None, c))
        layers.append((generator["out"], generator["out_cond"] if c else None, c))
        for k, linear in enumerate(critic["linears"]):
            layers.append((linear, critic["cond"] if c and k == 0 else None, self.pac * c if k == 0 else 0))
        with torch.no_grad():
            for linear, table, extra in layers:
                bound = 1.0 / np.sqrt(linear.in_features + extra)
                for tensor in [linear.weight, linear.bias] + ([] if table is None else [table.weight]):
                    tensor.uniform_(-bound, bound, generator=gen)

    def _generate_raw(self, net, z, cond):
        """Generator logits for noise ``z`` and condition positions ``cond`` (None without discrete columns)."""
        torch = import_torch()
        x = z
        for k, (linear, norm) in enumerate(zip(net["linears"], net["norms"], strict=True)):
            h = linear(x) if cond is None else linear(x) + net["conds"][k](cond)
            x = torch.cat([torch.relu(norm(h)), x], dim=1)
        return net["out"](x) if cond is None else net["out"](x) + net["out_cond"](cond)

    def _cond_term(self, critic, cond):
        """The condition's share of the critic's first layer, per pack of ``pac`` rows."""
        if cond is None:
            return 0.0
        torch = import_torch()
        packed = cond.reshape(-1, self.pac) + torch.arange(self.pac) * self.cond_dim_
        return critic["cond"](packed).sum(dim=1)

    def _criticize(self, critic, x, cond_term, generator):
        """Critic scores of packed rows; dropout 0.5 drawn from ``generator``."""
        first = critic["linears"][0]
        return self._critic_rest(critic, first(x) + cond_term, generator)

    def _critic_rest(self, critic, h, generator):
        """The critic after its first linear layer, from that layer's output ``h`` (bias and condition included)."""
        torch = import_torch()
        layers = critic["linears"]
        for layer in layers[1:]:
            h = torch.nn.functional.leaky_relu(h, 0.2)
            # dropout 0.5: rounding a uniform gives a fair 0/1 mask in one cheap pass
            h = h * torch.rand(h.shape, generator=generator).round_().mul_(2.0)
            h = layer(h)
        return h

    # -- conditions ---------------------------------------------------------------------

    def _set_conditions(self, counts: list[np.ndarray]) -> None:
        """Condition tables from each discrete column's code counts."""
        self.counts_ = [np.asarray(c, dtype=np.float64) for c in counts]
        widths = np.asarray([c.size for c in self.counts_], dtype=np.int64)
        self.cond_offsets_ = np.concatenate([[0], np.cumsum(widths)])[:-1].astype(np.int64)
        self.cond_dim_ = int(widths.sum())
        self.discrete_index_ = np.flatnonzero(self.transformer_.is_discrete)
        self._train_cdf = _padded_cdf([np.log1p(c) for c in self.counts_])
        self._sample_cdf = _padded_cdf(self.counts_)

    def _draw_conditions(self, n: int, rng: np.random.Generator, cdf: np.ndarray):
        """``n`` (column, code) pairs: a discrete column uniformly, a code from ``cdf``."""
        cols = rng.integers(len(self.counts_), size=n)
        codes = (cdf[cols] <= rng.random(n)[:, None]).sum(axis=1)
        return cols, codes

    def _cond_positions(self, cols: np.ndarray, codes: np.ndarray):
        """Hot position of each row's conditional vector, as a torch index (None without discrete columns)."""
        if not self.cond_dim_:
            return None
        return import_torch().from_numpy(np.ascontiguousarray(self.cond_offsets_[cols] + codes, dtype=np.int64))

    # -- fit ------------------------------------------------------------------------------

    def _fit(self, data: dict[str, np.ndarray], encoder, rng: np.random.Generator) -> None:
        with torch_threads() as torch:
            self.transformer_ = ModeTransformer().fit(data, encoder, rng)
            matrix = self.transformer_.transform(data, rng)
            n_rows = matrix.shape[0]
            columns = zip(self.transformer_.names, self.transformer_.columns_, strict=True)
            discrete = [n for n, c in columns if c["kind"] == "discrete"]
            codes = [np.asarray(data[name], dtype=np.int64) for name in discrete]
            self._set_conditions([np.bincount(c, minlength=encoder.info(n).n_codes)
                                  for n, c in zip(discrete, codes, strict=True)])
            rows_by_code = _RowIndex(codes, self.counts_, n_rows)

            gen = torch_generator(rng)
            generator, critic = self._build_generator(), self._build_critic()
            self._init_weights(generator, critic, gen)
            with torch.no_grad():
                generator["out"].bias.copy_(torch.as_tensor(self.transformer_.span_log_frequencies(matrix)))
            ops = SpanOps(self.transformer_)
            opt_g = adam(generator.parameters(), lr=self.generator_lr, betas=(0.5, 0.9), weight_decay=self.weight_decay)
            opt_d = adam(critic.parameters(), lr=self.discriminator_lr, betas=(0.5, 0.9),
                         weight_decay=self.weight_decay)
            real_all = torch.from_numpy(matrix)
            b, pac = int(self.batch_size), int(self.pac)
            steps = max(1, n_rows // b)
            generator.train()
            with self._progress_bar(int(self.epochs), "CTGAN epochs") as advance:
                for _ in range(int(self.epochs)):
                    for _ in range(steps):
                        self._step(generator, critic, opt_g, opt_d, ops, real_all, rows_by_code, b, pac, rng, gen)
                    advance(1)
            generator.eval()
            self.generator_ = generator

    def _step(self, generator, critic, opt_g, opt_d, ops, real_all, rows_by_code, b, pac, rng, gen):
        """One critic update, then one generator update on the same generated batch.

        Reusing the batch (as PyTorch's DCGAN example does) saves a generator
        forward pass per step; the generator's loss is taken against the
        critic just updated. Real and generated packs carry the same
        conditions in the same order, so the critic compares like with like.
        """
        torch = import_torch()
        if self.cond_dim_:
            cols, codes = self._draw_conditions(b, rng, self._train_cdf)
            real_rows = rows_by_code.draw(cols, codes, rng)
        else:
            cols = codes = None
            real_rows = rng.integers(real_all.shape[0], size=b)
        cond = self._cond_positions(cols, codes)
        z = torch.randn(b, self.embedding_dim, generator=gen)
        raw = self._generate_raw(generator, z, cond)
        fake = ops.activate(raw, gen, _TAU)

        # critic: WGAN loss with gradient penalty on random interpolates of packed rows.
        # The first layer is linear, so its output at an interpolate is the same
        # interpolate of its outputs at the real and the fake pack: one product
        # serves all three, and the gradient at the interpolate is the gradient at
        # that layer's output times its weights.
        m = b // pac
        first = critic["linears"][0]
        real = real_all.index_select(0, torch.from_numpy(real_rows)).reshape(m, -1)
        both = torch.cat([real, fake.detach().reshape(m, -1)])
        h_real, h_fake = torch.nn.functional.linear(both, first.weight).split(m)
        offset = first.bias + self._cond_term(critic, cond)
        eps = torch.rand(m, 1, generator=gen)
        h_mixed = eps * h_real + (1 - eps) * h_fake + offset
        s_real, s_fake, s_mixed = self._critic_rest(
            critic, torch.cat([h_real + offset, h_fake + offset, h_mixed]), gen).split(m)
        grad_h = torch.autograd.grad(s_mixed.sum(), h_mixed, create_graph=True)[0]
        penalty = (((grad_h @ first.weight).norm(2, dim=1) - 1) ** 2).mean()
        loss_d = s_fake.mean() - s_real.mean() + _GP_WEIGHT * penalty
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        # generator: fool the critic, and carry the condition (cross-entropy on its span)
        for p in critic.parameters():
            p.requires_grad_(False)
        score = self._criticize(critic, fake.reshape(b // pac, -1), self._cond_term(critic, cond), gen)
        for p in critic.parameters():
            p.requires_grad_(True)
        loss_g = -score.mean() + self._condition_loss(ops, raw, cols, codes)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    def _condition_loss(self, ops, raw, cols, codes):
        """Mean cross-entropy between each row's conditioned span and its condition (0 without discrete columns)."""
        if not self.cond_dim_:
            return 0.0
        torch = import_torch()
        span = torch.from_numpy(self.discrete_index_[cols])
        target = ops.span_start[span] + torch.from_numpy(codes)
        lse = ops.span_logsumexp(raw).gather(1, span[:, None])[:, 0]
        return (lse - raw.gather(1, target[:, None])[:, 0]).mean()

    # -- sample ---------------------------------------------------------------------------

    def _sample(self, n: int, rng: np.random.Generator, conditions: dict[str, Any]) -> dict[str, np.ndarray]:
        names = self.transformer_.names
        discrete = [names[j] for j in self.discrete_index_]
        wanted = {k: int(v) for k, v in conditions.items() if k in discrete}
        fixed = None
        if wanted:
            # feed the rarest conditioned value to the generator; keep-matching handles the others
            rarest = min(wanted, key=lambda k: self.counts_[discrete.index(k)][wanted[k]])
            fixed = (discrete.index(rarest), wanted.pop(rarest))

        def draw(k: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
            return self._draw(k, rng, fixed)

        return self._sample_matching(n, rng, wanted, draw)

    def _draw(self, n: int, rng: np.random.Generator, fixed: tuple[int, int] | None) -> dict[str, np.ndarray]:
        with torch_threads() as torch:
            gen = torch_generator(rng)
            ops = SpanOps(self.transformer_)
            alphas, choices = [], []
            for start in range(0, n, _SAMPLE_CHUNK):
                m = min(_SAMPLE_CHUNK, n - start)
                if fixed is not None:
                    cond = self._cond_positions(np.full(m, fixed[0]), np.full(m, fixed[1]))
                elif self.cond_dim_:
                    cond = self._cond_positions(*self._draw_conditions(m, rng, self._sample_cdf))
                else:
                    cond = None
                z = torch.randn(m, self.embedding_dim, generator=gen)
                with torch.no_grad():
                    raw = self._generate_raw(self.generator_, z, cond)
                    alphas.append(ops.alphas(raw).numpy())
                    choices.append(ops.choose(raw, gen))
        return self.transformer_.inverse(np.concatenate(alphas), np.concatenate(choices))

    # -- state ----------------------------------------------------------------------------

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        info, arrays = self.transformer_.state()
        arrays.update(module_to_arrays(self.generator_, "generator"))
        for j, counts in enumerate(self.counts_):
            arrays[f"counts{j}"] = counts
        return {"transformer": info, "n_discrete": len(self.counts_)}, arrays

    def _set_state(self, info: dict, arrays: dict[str, np.ndarray]) -> None:
        self.check_params()
        self.transformer_ = ModeTransformer.from_state(info["transformer"], arrays, self.encoder_)
        n_discrete = int(info["n_discrete"])
        if n_discrete != int(self.transformer_.is_discrete.sum()):
            raise ValueError("condition tables do not match the columns")
        counts = [np.asarray(arrays[f"counts{j}"], dtype=np.float64) for j in range(n_discrete)]
        widths = self.transformer_.span_width[self.transformer_.is_discrete]
        if any(c.shape != (w,) or np.any(c < 0) or not c.sum() > 0 for c, w in zip(counts, widths, strict=True)):
            raise ValueError("condition tables are malformed")
        self._set_conditions(counts)
        self.generator_ = self._build_generator()
        arrays_to_module(self.generator_, arrays, "generator")
        self.generator_.eval()


def _padded_cdf(weights: list[np.ndarray]) -> np.ndarray:
    """Cumulative distributions, one row per column, padded with 1.0; exact 1.0 from the last positive code on.

    A code is then ``(cdf[col] <= u).sum()`` for ``u`` in [0, 1), and codes of
    weight zero are never drawn.
    """
    width = max((w.size for w in weights), default=0)
    cdf = np.ones((len(weights), width))
    for j, w in enumerate(weights):
        cum = np.cumsum(w) / w.sum()
        last = int(np.flatnonzero(w > 0)[-1])
        cdf[j, :last] = cum[:last]
    return cdf


class _RowIndex:
    """Rows grouped by (discrete column, code), to draw real rows carrying a condition."""

    def __init__(self, codes: list[np.ndarray], counts: list[np.ndarray], n_rows: int):
        self.order = np.concatenate([np.argsort(c, kind="stable") for c in codes]) if codes else np.zeros(0, np.int64)
        width = max((c.size for c in counts), default=0)
        self.start = np.zeros((len(counts), width), dtype=np.int64)
        self.count = np.zeros((len(counts), width), dtype=np.int64)
        for j, c in enumerate(counts):
            self.count[j, : c.size] = c
            self.start[j, : c.size] = j * n_rows + np.concatenate([[0], np.cumsum(c)[:-1]])

    def draw(self, cols: np.ndarray, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pick = np.floor(rng.random(cols.size) * self.count[cols, codes]).astype(np.int64)
        return self.order[self.start[cols, codes] + pick]

"""The linear heads fitted by streaming mini-batches: any class count, any photo count.

Full-batch L-BFGS (``fieldguide.training.probe``) holds several (photos, classes) float64
arrays at once and stops by a gradient tolerance that the mean loss meets at once when there
are a thousand classes (its per-weight gradient shrinks like 1/classes). This fit reads the
features block by block (one array or a list of row shards, e.g. memory-mapped ``.npy``
files), works on one mini-batch at a time in float32 and keeps only the weights, the
optimiser's state, one block of rows and one batch's logits in memory. The loss is the
probe's: per-head (class-weighted) cross-entropy, logit adjustment while fitting, rank
heads tied to the species head through log-membership matrices, L2 on the weights.

Why SGD with momentum by default: on standardised features its rate needs no tuning (1 / width
bounds the loss's curvature), and its steps shrink with the gradient. Adam (also here) takes
steps of the same size however small the gradient, and on the benchmark's sets, which the
training rows separate, that walked away from a good start (held-out top-1 0.94 -> 0.89 in
two epochs, ``bench/probe_scale.py``). The weights start from the class means (a
nearest-mean classifier whose scale is fitted on held-out rows), so the first epoch begins
near a good answer; the validation split's top-1 (then loss) decides when to stop.

The arithmetic runs in NumPy (BLAS float32 matmul) by default; ``device="cuda"`` (or
``"auto"`` with a GPU) runs the same steps through PyTorch, imported only then.
"""

from __future__ import annotations

import mmap
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from fieldguide.errors import InputError
from fieldguide.models.card import HeadSpec

#: A linear head as arrays: weight (K, d) and bias (K,).
Linear = tuple[np.ndarray, np.ndarray]
#: Features: one (n, d) array or row shards (each (n_i, d), rows in order).
Features = np.ndarray | Sequence[np.ndarray]
DEVICES = ("auto", "cpu", "cuda", "torch-cpu")


class NotLearned(InputError):
    """The fit ended no better than guessing from the class frequencies: no model is written.

    An input error (the CLI's one line, exit 2): the photos' features and labels gave nothing
    to learn, or the spec's ``[probe]`` settings stopped the fit before it learned."""


@dataclass
class StreamOptions:
    """Settings of the mini-batch fit (the defaults are what the benchmark measured)."""

    epochs: int = 10
    batch_size: int = 4096  # at most; small sets take smaller batches (``min_steps``)
    min_steps: int = 50  # optimiser steps per epoch at least (batches of 256 rows at least)
    method: str = "sgd"  # sgd (momentum 0.9) | adam
    # 0: sgd 1 / width (standardised rows have squared norm ~ width, which bounds the
    # loss's curvature), adam 1e-3
    lr: float = 0.0
    patience: int = 2  # epochs without a better validation score before stopping
    block_rows: int = 65_536  # rows read from a shard at once, shuffled within the block
    device: str = "cpu"  # cpu (NumPy) | cuda | torch-cpu | auto
    seed: int = 0
    max_seconds: float = 0.0  # a time budget for training (0: none); ends an epoch early


@dataclass
class StreamFit:
    heads: dict[str, Linear]
    loss: float  # the last epoch's mean training loss (data term + L2)
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0  # the epoch whose weights these are (0: the warm start)


def as_shards(feats: Features) -> list[np.ndarray]:
    """The features as a list of 2-D row shards (one array is one shard)."""
    if isinstance(feats, np.ndarray):
        return [feats]
    shards = list(feats)
    if not shards or any(s.ndim != 2 for s in shards):
        raise ValueError("features must be one (n, d) array or a list of (n_i, d) shards")
    if len({s.shape[1] for s in shards}) != 1:
        raise ValueError("every shard needs the same width")
    return shards


def _blocks(shards: list[np.ndarray], block_rows: int,
            rng: np.random.Generator | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(global row numbers, float32 rows) per block; blocks and rows shuffled when ``rng``."""
    spans, start = [], 0
    for i, s in enumerate(shards):
        for a in range(0, len(s), block_rows):
            spans.append((i, a, min(a + block_rows, len(s)), start + a))
        start += len(s)
    order = rng.permutation(len(spans)) if rng is not None else range(len(spans))
    for k in order:
        i, a, b, first = spans[k]
        index = np.arange(first, first + b - a)
        rows = _read(shards[i], a, b)  # a copy: the caller scales it in place
        if rng is not None:
            perm = rng.permutation(b - a)
            rows, index = rows[perm], index[perm]
        yield index, rows


def _read(shard: np.ndarray, a: int, b: int) -> np.ndarray:
    """Rows a:b as a new float32 array. A memory-mapped ``.npy`` file is read rather than
    touched through its mapping: mapped pages would stay resident in this process, and an
    epoch over a million 1280-wide rows would hold all 5 GB of them."""
    if (isinstance(shard, np.memmap) and isinstance(shard.base, mmap.mmap) and shard.filename
            and shard.flags.c_contiguous):
        width = shard.shape[1]
        rows = np.fromfile(shard.filename, dtype=shard.dtype, count=(b - a) * width,
                           offset=shard.offset + a * width * shard.itemsize)
        return rows.reshape(b - a, width).astype(np.float32, copy=False)
    return np.array(shard[a:b], dtype=np.float32)


def pick_device(device: str) -> str:
    """``auto``: CUDA when torch is importable and sees a GPU, else NumPy on the CPU."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r} (known: {', '.join(DEVICES)})")
    if device != "auto":
        return device
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class _Problem:
    """What every step needs besides the weights: heads, labels and the loss terms."""

    heads: list[HeadSpec]
    membership: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    shift: dict[str, np.ndarray]
    l2: float
    mean: np.ndarray  # per-feature mean and scale: the fit runs on standardised features
    scale: np.ndarray
    #: per head, the standardised weights the L2 penalty pulls towards (a fine-tune's
    #: starting weights); a head not here is pulled towards zero
    anchor: dict[str, np.ndarray] = field(default_factory=dict)

    def from_anchor(self, name: str, w: Any) -> Any:
        """``w`` minus the head's anchor (NumPy or torch)."""
        return w - self.anchor[name] if name in self.anchor else w

    @property
    def species(self) -> str | None:
        return next((h.name for h in self.heads if h.kind == "species"), None)

    @property
    def linear(self) -> list[HeadSpec]:
        return [h for h in self.heads if h.kind != "rank"]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = z - z.max(axis=1, keepdims=True)
    out -= np.log(np.exp(out).sum(axis=1, keepdims=True))
    return out


def _numpy_batch(p: _Problem, params: dict[str, list[np.ndarray]], x: np.ndarray,
                 y: np.ndarray, grad: bool) -> tuple[float, dict[str, list[np.ndarray]],
                                                     dict[str, np.ndarray]]:
    """Mean data loss of one standardised batch, its gradients (when ``grad``) and logits.

    Written for few passes over the (batch, classes) arrays: one exp per head, the gradient
    built in place in the softmax's own array.
    """
    logits = {n: x @ w.T + b for n, (w, b) in params.items()}
    dz: dict[str, np.ndarray] = {}
    loss = 0.0
    logp_species: np.ndarray | None = None
    for i, h in enumerate(p.heads):
        t = y[:, i]
        labelled = t >= 0
        if not labelled.any():
            continue
        every = bool(labelled.all())
        rows = np.flatnonzero(labelled)
        if h.kind == "rank":
            if p.species is None:
                raise ValueError("rank heads need a species head")
            if logp_species is None:
                logp_species = _log_softmax(logits[p.species])
            logp = logp_species[rows]
            joint = logp + p.membership[h.name][:, t[rows]].T
            top = joint.max(axis=1, keepdims=True)
            post = np.exp(joint - top)
            total = post.sum(axis=1, keepdims=True)
            loss -= float((np.log(total) + top).mean())
            if grad:
                g = post / (total * -len(rows))
                g -= np.exp(logp) * g.sum(axis=1, keepdims=True)
                _add(dz, p.species, g, rows, every, logits)
            continue
        z = logits[h.name] if every else logits[h.name][rows]
        g = z + p.shift[h.name] if h.name in p.shift else z.copy()
        tr = t[rows]
        pick = (np.arange(len(rows)), tr)
        top = g.max(axis=1, keepdims=True)
        g -= top
        target = g[pick].copy()
        np.exp(g, out=g)
        total = g.sum(axis=1, keepdims=True)
        w = p.weights[h.name][tr] if h.name in p.weights else np.ones(len(rows), np.float32)
        norm = float(w.sum())
        loss -= float((w * (target - np.log(total[:, 0]))).sum()) / norm
        if grad:
            g /= total
            g[pick] -= 1.0
            g *= (w / norm)[:, None]
            _add(dz, h.name, g, rows, every, logits)
    grads = {n: [dz[n].T @ x, dz[n].sum(axis=0)] if n in dz
             else [np.zeros_like(w), np.zeros_like(b)] for n, (w, b) in params.items()} \
        if grad else {}
    return loss, grads, logits


def _add(dz: dict[str, np.ndarray], name: str, g: np.ndarray, rows: np.ndarray, every: bool,
         logits: dict[str, np.ndarray]) -> None:
    """Accumulate a head's logit gradient for the labelled rows."""
    if name not in dz:
        if every:
            dz[name] = g
            return
        dz[name] = np.zeros_like(logits[name])
    if every:
        dz[name] += g
    else:
        dz[name][rows] += g


class _NumpySGD:
    """SGD with heavy-ball momentum on NumPy float32 arrays, in place (as torch.optim.SGD)."""

    def __init__(self, params: dict[str, list[np.ndarray]], lr: float,
                 momentum: float = 0.9) -> None:
        self.params, self.lr, self.momentum = params, lr, momentum
        self.v = {n: [np.zeros_like(a) for a in ps] for n, ps in params.items()}

    def step(self, grads: dict[str, list[np.ndarray]]) -> None:
        for n, ps in self.params.items():
            for a, g, v in zip(ps, grads[n], self.v[n], strict=True):
                v *= self.momentum
                v += g
                a -= self.lr * v


class _NumpyAdam:
    """Adam on NumPy float32 arrays, in place (bias-corrected, as torch.optim.Adam)."""

    def __init__(self, params: dict[str, list[np.ndarray]], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = {n: [np.zeros_like(a) for a in ps] for n, ps in params.items()}
        self.v = {n: [np.zeros_like(a) for a in ps] for n, ps in params.items()}

    def step(self, grads: dict[str, list[np.ndarray]]) -> None:
        b1, b2, eps = 0.9, 0.999, 1e-8
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for n, ps in self.params.items():
            for a, g, m, v in zip(ps, grads[n], self.m[n], self.v[n], strict=True):
                m *= b1
                m += (1 - b1) * g
                v *= b2
                g *= g
                v += (1 - b2) * g
                denom = np.sqrt(v / c2, out=g)
                denom += eps
                a -= (self.lr / c1) * m / denom


class _Numpy:
    """The NumPy engine: hand-written gradients and Adam, everything float32."""

    def __init__(self, p: _Problem, init: dict[str, list[np.ndarray]], lr: float,
                 sgd: bool) -> None:
        self.p = p
        self.params = {n: [a.astype(np.float32).copy() for a in ps] for n, ps in init.items()}
        self.opt = _NumpySGD(self.params, lr) if sgd else _NumpyAdam(self.params, lr)
        self.penalty = (2 * p.l2 / p.scale**2).astype(np.float32)  # L2 on the raw weights

    def set_lr(self, lr: float) -> None:
        self.opt.lr = lr

    def step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, grads, logits = _numpy_batch(self.p, self.params, x, y, grad=True)
        for n, (w, _) in self.params.items():
            grads[n][0] += self.penalty * self.p.from_anchor(n, w)
        self.opt.step(grads)
        return loss, self._primary(logits, len(x))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, _, logits = _numpy_batch(self.p, self.params, x, y, grad=False)
        return loss, self._primary(logits, len(x))

    def _primary(self, logits: dict[str, np.ndarray], n: int) -> np.ndarray:
        return logits.get(self.p.heads[0].name, np.zeros((n, 0), np.float32))

    def state(self) -> dict[str, list[np.ndarray]]:
        return {n: [a.copy() for a in ps] for n, ps in self.params.items()}

    def l2_term(self) -> float:
        return sum(self.p.l2 * float(((self.p.from_anchor(n, w) / self.p.scale) ** 2).sum())
                   for n, (w, _) in self.params.items())


class _Torch:
    """The same steps through PyTorch (autograd, torch.optim.Adam): for a GPU."""

    def __init__(self, p: _Problem, init: dict[str, list[np.ndarray]], lr: float,
                 sgd: bool, device: str) -> None:
        import torch

        self.torch, self.p = torch, p
        self.device = torch.device("cpu" if device == "torch-cpu" else "cuda")
        self.params = {n: [torch.tensor(a, dtype=torch.float32, device=self.device,
                                        requires_grad=True) for a in ps]
                       for n, ps in init.items()}
        found = [a for ps in self.params.values() for a in ps]
        self.opt: Any = (torch.optim.SGD(found, lr=lr, momentum=0.9) if sgd
                         else torch.optim.Adam(found, lr=lr))
        self.inv_scale2 = self._t(1.0 / p.scale**2)
        self.anchor = {n: self._t(a) for n, a in p.anchor.items()}
        self.membership = {n: self._t(m) for n, m in p.membership.items()}
        self.weights = {n: self._t(w) for n, w in p.weights.items()}
        self.shift = {n: self._t(s) for n, s in p.shift.items()}

    def _t(self, a: np.ndarray) -> Any:
        return self.torch.as_tensor(np.asarray(a, np.float32), device=self.device)

    def set_lr(self, lr: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = lr

    def _loss(self, x: Any, y: Any) -> tuple[Any, Any]:
        torch, p = self.torch, self.p
        logits = {n: x @ w.T + b for n, (w, b) in self.params.items()}
        total = torch.zeros((), device=self.device)
        logp_species = None
        for i, h in enumerate(p.heads):
            t = y[:, i]
            rows = torch.nonzero(t >= 0).flatten()
            if not len(rows):
                continue
            if h.kind == "rank":
                if p.species is None:
                    raise ValueError("rank heads need a species head")
                if logp_species is None:
                    logp_species = torch.log_softmax(logits[p.species], dim=1)
                joint = logp_species[rows] + self.membership[h.name][:, t[rows]].T
                total = total - torch.logsumexp(joint, dim=1).mean()
                continue
            z = logits[h.name][rows]
            if h.name in self.shift:
                z = z + self.shift[h.name]
            total = total + torch.nn.functional.cross_entropy(z, t[rows],
                                                              weight=self.weights.get(h.name))
        name = p.heads[0].name
        return total, logits.get(name)

    def _batch(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        torch = self.torch
        return (torch.from_numpy(x).to(self.device),
                torch.from_numpy(np.asarray(y, np.int64)).to(self.device))

    def step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        xt, yt = self._batch(x, y)
        loss, primary = self._loss(xt, yt)
        reg = sum(self.p.l2 * ((w - self.anchor[n] if n in self.anchor else w) ** 2
                               * self.inv_scale2).sum() for n, (w, _) in self.params.items())
        self.opt.zero_grad(set_to_none=True)
        (loss + reg).backward()
        self.opt.step()
        return float(loss.detach()), self._numpy(primary, len(x))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        with self.torch.no_grad():
            xt, yt = self._batch(x, y)
            loss, primary = self._loss(xt, yt)
        return float(loss), self._numpy(primary, len(x))

    def _numpy(self, t: Any, n: int) -> np.ndarray:
        if t is None:
            return np.zeros((n, 0), np.float32)
        out: np.ndarray = t.detach().cpu().numpy()
        return out

    def state(self) -> dict[str, list[np.ndarray]]:
        return {n: [a.detach().cpu().numpy().copy() for a in ps]
                for n, ps in self.params.items()}

    def l2_term(self) -> float:
        return sum(self.p.l2 * float(((self.p.from_anchor(n, w) / self.p.scale) ** 2).sum())
                   for n, (w, _) in self.state().items())


def _statistics(shards: list[np.ndarray], targets: np.ndarray, heads: list[HeadSpec],
                block_rows: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray],
                                          dict[str, np.ndarray]]:
    """One pass: per-feature mean and scale, and per linear head its class sums and counts."""
    d = shards[0].shape[1]
    total, squares, n = np.zeros(d), np.zeros(d), 0
    sums = {h.name: np.zeros((len(h.classes), d)) for h in heads if h.kind != "rank"}
    counts = {h.name: np.zeros(len(h.classes)) for h in heads if h.kind != "rank"}
    column = {h.name: i for i, h in enumerate(heads)}
    for index, x in _blocks(shards, block_rows, None):
        total += x.sum(axis=0, dtype=np.float64)
        squares += (x * x).sum(axis=0, dtype=np.float64)
        n += len(x)
        for name in sums:
            t = targets[index, column[name]]
            keep = np.flatnonzero(t >= 0)
            if not len(keep):
                continue
            order = keep[np.argsort(t[keep], kind="stable")]
            labels, starts = np.unique(t[order], return_index=True)
            sums[name][labels] += np.add.reduceat(x[order], starts, axis=0, dtype=np.float64)
            counts[name] += np.bincount(t[keep], minlength=len(counts[name]))
    mean = total / max(n, 1)
    scale = np.sqrt(np.maximum(squares / max(n, 1) - mean**2, 0.0))
    scale = np.where(scale > 1e-6 * max(float(scale.max()), 1e-30), scale, 1.0)
    return mean, scale, sums, counts


def _warm_start(p: _Problem, sums: dict[str, np.ndarray], counts: dict[str, np.ndarray],
                sample: np.ndarray, y: np.ndarray) -> dict[str, list[np.ndarray]]:
    """Scaled standardised class means as weights, log priors as biases; the scale is the one
    of a small grid with the lowest loss on a sample block."""
    init: dict[str, list[np.ndarray]] = {}
    column = {h.name: i for i, h in enumerate(p.heads)}
    for h in p.linear:
        c = counts[h.name]
        means = np.where(c[:, None] > 0, sums[h.name] / np.maximum(c, 1)[:, None], p.mean)
        unit = (means - p.mean) / p.scale
        prior = np.log(np.maximum(c, 0.5) / max(c.sum(), 1.0))
        base_w, base_b = unit, -0.5 * (unit**2).sum(axis=1)
        shift = p.shift.get(h.name, 0.0)
        best = (np.inf, 0.0)
        t = y[:, column[h.name]]
        rows = np.flatnonzero(t >= 0)
        if len(rows):
            z0 = sample[rows] @ base_w.T.astype(np.float32)
            z0 += base_b.astype(np.float32)
            offset = (prior + shift).astype(np.float32)
            size = p.l2 * float(((base_w / p.scale) ** 2).sum())  # L2 of the raw weights
            for alpha in np.logspace(-4, 1, 11):
                logp = _log_softmax(np.float32(alpha) * z0 + offset)
                loss = -float(logp[np.arange(len(rows)), t[rows]].mean()) + alpha**2 * size
                best = min(best, (loss, alpha))
        alpha = best[1]
        init[h.name] = [(alpha * base_w).astype(np.float32),
                        (alpha * base_b + prior - shift).astype(np.float32)]
    return init


def _topk_hits(z: np.ndarray, t: np.ndarray, k: int) -> int:
    if z.shape[1] == 0:
        return 0
    keep = t >= 0
    z, t = z[keep], t[keep]
    if k == 1:
        return int((z.argmax(axis=1) == t).sum())
    k = min(k, z.shape[1])
    part = np.argpartition(-z, k - 1, axis=1)[:, :k]
    return int((part == t[:, None]).any(axis=1).sum())


def _pass(engine: _Numpy | _Torch, p: _Problem, shards: list[np.ndarray], targets: np.ndarray,
          opts: StreamOptions, rng: np.random.Generator | None,
          deadline: float = np.inf) -> dict[str, float]:
    """One epoch (``rng`` given: training steps, until ``deadline``) or one evaluation pass."""
    loss_sum, rows, top1, top5, labelled = 0.0, 0, 0, 0, 0

    mean, scale = p.mean.astype(np.float32), p.scale.astype(np.float32)
    for index, block in _blocks(shards, opts.block_rows, rng):
        if time.perf_counter() > deadline:
            break
        block -= mean
        block /= scale
        for a in range(0, len(block), opts.batch_size):
            if time.perf_counter() > deadline:
                break
            x = block[a:a + opts.batch_size]
            y = targets[index[a:a + opts.batch_size]]
            loss, z = engine.step(x, y) if rng is not None else engine.evaluate(x, y)
            loss_sum += loss * len(x)
            rows += len(x)
            t = y[:, 0]
            top1 += _topk_hits(z, t, 1)
            top5 += _topk_hits(z, t, 5) if rng is None else 0  # top-5 on evaluation only
            labelled += int((t >= 0).sum())
    out = {"loss": loss_sum / max(rows, 1), "top1": top1 / max(labelled, 1), "rows": rows}
    return out if rng is not None else {**out, "top5": top5 / max(labelled, 1)}


def _score(row: dict[str, float], split: str) -> tuple[float, float]:
    """What early stopping compares: the primary head's top-1, then the loss. Top-1 first
    because with little L2 the loss rises (confidence grows) while the ranking still
    improves, and a model is used for its ranking."""
    return row[f"{split}_top1"], -row[f"{split}_loss"]


def _better(new: tuple[float, float], old: tuple[float, float]) -> bool:
    if new[0] != old[0]:
        return new[0] > old[0] + 1e-4
    return new[1] > old[1] + 1e-4 * abs(old[1])


def fit_streaming(feats: Features, targets: np.ndarray, heads: list[HeadSpec],
                  membership: dict[str, np.ndarray], *, l2: float,
                  class_weights: dict[str, np.ndarray | None] | None = None,
                  adjust: dict[str, np.ndarray] | None = None,
                  val: tuple[Features, np.ndarray] | None = None,
                  options: StreamOptions | None = None,
                  start_from: dict[str, Linear] | None = None) -> StreamFit:
    """Fit every linear head by mini-batch Adam; early stopping on ``val`` (see ``_score``).

    ``targets`` is (rows, heads) over all rows of ``feats`` in order (-1: not labelled).
    Returns the weights of the epoch that scored best on ``val`` (without it: on the
    training rows), in the features' own units (the standardisation is folded back in).
    ``start_from``: starting weights (in the features' units) of some heads, a fine-tune: those
    heads start there instead of at the class means, and their L2 penalty is on the distance
    from there (L2-SP, Li et al. 2018), so a small set of photos adapts the head rather than
    replacing it.
    """
    opts = options or StreamOptions()
    shards = as_shards(feats)
    rows = sum(len(s) for s in shards)
    opts = replace(opts, batch_size=max(min(opts.batch_size, rows // opts.min_steps), 256))
    targets = np.asarray(targets, dtype=np.int64)
    if len(targets) != rows:
        raise ValueError("targets need one row per feature row")
    mean, scale, sums, counts = _statistics(shards, targets, heads, opts.block_rows)
    # z = w x + b = (w scale) u + (b + w mean) on standardised rows u
    begun = {name: [(np.asarray(w) * scale).astype(np.float32),
                    (np.asarray(b) + np.asarray(w) @ mean).astype(np.float32)]
             for name, (w, b) in (start_from or {}).items()}
    p = _Problem(heads, membership,
                 {k: np.asarray(v, np.float32) for k, v in (class_weights or {}).items()
                  if v is not None},
                 {k: np.asarray(v, np.float32) for k, v in (adjust or {}).items()},
                 l2, mean, scale, {name: w for name, (w, _) in begun.items()})
    val_shards = as_shards(val[0]) if val is not None else None
    val_targets = np.asarray(val[1], np.int64) if val is not None else None
    # the warm start's scale is fitted on held-out rows where there are some: on training
    # rows it grows until they are memorised, and then their gradient vanishes
    source = (val_shards, val_targets) if val_shards is not None and val_targets is not None \
        else (shards, targets)
    first_index, first = next(_blocks(source[0], min(opts.block_rows, opts.batch_size, 2048),
                                      np.random.default_rng(opts.seed)))
    sample = ((first - mean) / scale).astype(np.float32)
    init = {**_warm_start(p, sums, counts, sample, source[1][first_index]), **begun}
    device = pick_device(opts.device)
    sgd = opts.method == "sgd"
    lr = opts.lr or (1.0 / shards[0].shape[1] if sgd else 1e-3)
    engine: _Numpy | _Torch = (_Numpy(p, init, lr, sgd) if device == "cpu"
                               else _Torch(p, init, lr, sgd, device))
    rng = np.random.default_rng(opts.seed)
    history: list[dict[str, float]] = []
    best_score, best_state, bad = (-np.inf, np.inf), engine.state(), 0
    best_epoch = 0
    if val_shards is not None and val_targets is not None:  # the warm start is epoch 0
        start = time.perf_counter()
        row = {"epoch": 0.0, **{f"val_{k}": v for k, v in _pass(engine, p, val_shards,
                                                                val_targets, opts,
                                                                None).items()}}
        history.append({**row, "seconds": time.perf_counter() - start})
        best_score = _score(row, "val")
    deadline = time.perf_counter() + opts.max_seconds if opts.max_seconds else np.inf
    for epoch in range(1, opts.epochs + 1):
        start = time.perf_counter()
        row = {"epoch": float(epoch), "lr": lr,
               **{f"train_{k}": v for k, v in _pass(engine, p, shards, targets, opts, rng,
                                                    deadline).items()}}
        row["seconds"] = time.perf_counter() - start
        split = "train"
        if val_shards is not None and val_targets is not None:
            row.update({f"val_{k}": v for k, v in _pass(engine, p, val_shards, val_targets,
                                                        opts, None).items()})
            split = "val"
        score = _score(row, split)
        history.append(row)
        if _better(score, best_score):
            best_score, best_state, bad, best_epoch = score, engine.state(), 0, epoch
        else:
            bad += 1
            lr *= 0.3  # a plateau: smaller steps before giving up
            engine.set_lr(lr)
            if bad >= opts.patience:
                break
        if time.perf_counter() > deadline:
            break
    fitted = {}
    for name, (w, b) in best_state.items():  # z = w (x - mean) / scale + b, in x's units
        raw = w / scale.astype(np.float32)
        fitted[name] = (raw.astype(np.float32),
                        (b - raw @ mean.astype(np.float32)).astype(np.float32))
    last = history[-1].get("train_loss", float("nan")) if history else float("nan")
    return StreamFit(fitted, last + engine.l2_term(), epoch, history, best_epoch)

"""ROAD: RemOve And Debias (Rong et al., 2022), deletion curves without the mask-shape leak and without retraining.

Deletion and insertion (:mod:`.curves`) replace removed pixels by a constant, so
the *shape* of what was removed can tell the model the class on its own, and
MoRF / LeRF rankings of explanations disagree.  ROAD removes by *noisy linear
imputation* instead: a removed pixel takes the value its neighbours imply (the
solution of a sparse linear system), plus a little Gaussian noise, so the mask
carries next to no information.

Two curves per explanation, over the same units as :func:`.curves.units`
(pixels, whole segments when ``meta["segments"]`` is set, tabular features):

- ``road_morf``: Most Relevant First removed; a faithful map's score falls fast
  (AUC below random, ``gain > 0``);
- ``road_lerf``: Least Relevant First removed; a faithful map's score stays high
  (AUC above random, ``gain > 0``).

Both are compared with the same seeded random orders as deletion/insertion.
Tabular rows are imputed by the conditional mean of a Gaussian fitted to
``predictor.background``.  Text does not apply: tokens can be masked, not imputed.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..adapters import as_predictor
from ..explanation import Explanation
from ..predictor import Predictor
from . import curves as _curves
from .curves import Curve

ROAD_KINDS = ("road_morf", "road_lerf")
DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# The reference implementation's neighbour weights: 1/6 for the 4 direct neighbours, 1/12 for the diagonals.
_NEIGHBOURS = tuple((dy, dx, 1 / 6 if dy == 0 or dx == 0 else 1 / 12)
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def road(
    model: Any,
    explanations: Sequence[Explanation],
    *,
    kinds: Sequence[str] = ROAD_KINDS,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    n_random: int = 5,
    seed: int = 0,
    noise: float = 0.01,
) -> list[dict[str, Curve]]:
    """ROAD curves, one dict ``kind -> Curve`` per explanation, scored in few ``predictor.predict`` calls
    (one per batch of explanations, as :func:`.curves.curves`: a new batch once ``MAX_INPUTS_PER_CALL``
    perturbed inputs are pending).

    ``fractions``: the removal fractions, strictly increasing in (0, 1); each removes
    ``round(f * n_units)`` units, and a curve's ``fractions`` are ``0.0`` (the intact input)
    then the fraction of the input actually removed at each (by pixel area for segments,
    so within half a unit of ``f``).  ``noise``: the std of the Gaussian noise added to
    imputed pixels, as a fraction of the image's value range (max - min); drawn from
    ``np.random.default_rng(seed)``, one noise field per image, so ``road_morf`` and
    ``road_lerf`` of the same mask see the same noise.  ``empty_score`` is the score with
    every unit removed: an image then has no known pixel to impute from and becomes its
    mean value per channel (plus noise); a tabular row becomes the background mean.
    """
    predictor = as_predictor(model)
    kinds = _checked_kinds(kinds)
    targets = _checked_fractions(fractions)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0 (a fraction of the image's value range), got {noise!r}.")
    if n_random < 0:
        raise ValueError(f"n_random must be >= 0, got {n_random}.")
    if predictor.modality == "text" or any(e.modality == "text" for e in explanations):
        raise ValueError(
            "ROAD does not apply to text: it imputes removed pixels or features from the ones kept, and tokens can "
            "only be masked, not imputed.  Use deletion/insertion (explain.metrics.curves), which mask tokens."
        )
    gaussian = _Gaussian.fit(predictor) if predictor.modality == "tabular" else None
    results: list[dict[str, Curve]] = []
    pending: list[tuple[Explanation, _RoadPlan, np.ndarray, np.ndarray]] = []
    for explanation in explanations:
        plan = _road_plan(predictor, explanation, kinds, targets, n_random, seed)
        masks = np.concatenate([plan.removed.reshape(-1, plan.n_units), np.ones((1, plan.n_units), dtype=bool)])
        unique, inverse = np.unique(masks, axis=0, return_inverse=True)  # the intact input, random orders recur
        pending.append((explanation, plan, unique, inverse.ravel()))
        if sum(len(p[2]) for p in pending) >= _curves.MAX_INPUTS_PER_CALL:
            results += _score(predictor, pending, gaussian, noise, seed)
            pending = []
    return results + (_score(predictor, pending, gaussian, noise, seed) if pending else [])


def _checked_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    if not kinds or set(kinds) - set(ROAD_KINDS) or len(set(kinds)) != len(kinds):
        raise ValueError(f"kinds must be some of {ROAD_KINDS}, each once, got {list(kinds)}.")
    return kinds


def _checked_fractions(fractions: Sequence[float]) -> np.ndarray:
    values = np.asarray(fractions, dtype=np.float64)
    if values.ndim != 1 or not len(values):
        raise ValueError(f"fractions must be a non-empty list of removal fractions in (0, 1), got {fractions!r}.")
    if not np.all(np.isfinite(values)) or np.any(values <= 0) or np.any(values >= 1):
        raise ValueError(f"fractions must lie strictly between 0 and 1 (the intact input, 0.0, is always scored), "
                         f"got {list(values)}.")
    if np.any(np.diff(values) <= 0):
        raise ValueError(f"fractions must be strictly increasing, got {list(values)}.")
    return values


@dataclass(frozen=True)
class _RoadPlan:
    kinds: tuple[str, ...]
    data: np.ndarray  # the input, float32
    unit_of: np.ndarray | None  # image pixel -> unit index; None for tabular features
    removed: np.ndarray  # (kinds, 1 + n_random, 1 + len(fractions), n_units) bool; order 0 is the explanation's
    fractions: np.ndarray  # (kinds, 1 + n_random, 1 + len(fractions))

    @property
    def n_units(self) -> int:
        return self.removed.shape[-1]


def _road_plan(predictor: Predictor, explanation: Explanation, kinds: tuple[str, ...], targets: np.ndarray,
               n_random: int, seed: int) -> _RoadPlan:
    """The same units and seeded random orders as deletion/insertion; LeRF walks each order backwards."""
    data, values, sizes, unit_of = _curves._checked_units(predictor, explanation)
    if explanation.modality == "image" and data.ndim not in (2, 3):
        raise ValueError(f"ROAD takes (H, W) or (H, W, C) images, got data of shape {data.shape}.")
    counts = np.concatenate([[0], np.round(targets * len(values)).astype(int)])
    orders = _curves._orders(values, n_random, seed)
    removed, fractions = [], []
    for kind in kinds:
        r, f = _curves._removals(orders if kind == "road_morf" else [o[::-1] for o in orders], sizes, counts)
        removed.append(r)
        fractions.append(f)
    return _RoadPlan(kinds, data, unit_of, np.array(removed), np.array(fractions))


def _score(predictor: Predictor, pending: list, gaussian: _Gaussian | None, noise: float, seed: int) -> list[dict[str, Curve]]:
    """Impute every pending explanation's perturbed inputs (sharing work across explanations), then one predict."""
    if gaussian is not None:
        batches = gaussian.impute([(p[1].data, p[2]) for p in pending])
    else:
        batches = impute_images([(p[1].data, p[2][:, p[1].unit_of]) for p in pending], noise=noise, seed=seed)
    group = [(e, plan, batch, inverse) for (e, plan, _, inverse), batch in zip(pending, batches)]
    return _curves._score_group(predictor, group, _build)


def _build(plan: _RoadPlan, scores: np.ndarray) -> dict[str, Curve]:
    empty, scores = float(scores[-1]), scores[:-1].reshape(plan.removed.shape[:3])
    return {kind: Curve(kind, f[0], s[0], f[1:], s[1:], float(s[0, 0]), empty)
            for kind, s, f in zip(plan.kinds, scores, plan.fractions)}


# ---- images: noisy linear imputation ---------------------------------------------------------------------
def impute_images(items: Sequence[tuple[np.ndarray, np.ndarray]], *, noise: float = 0.01, seed: int = 0) -> list[np.ndarray]:
    """Noisy linear imputation: for each ``(image, masks)`` (image ``(H, W)`` or ``(H, W, C)``, masks ``(k, H*W)``
    bool, True = removed), the ``k`` images with removed pixels imputed, ``(k,) + image.shape`` float32.

    A removed pixel equals the weighted mean of its 8 neighbours (1/6 direct, 1/12
    diagonal, renormalised at the border), kept pixels fixed: one sparse LU
    factorisation per distinct mask, shared by every image (and channel) that uses
    it.  Then Gaussian noise of std ``noise * (max - min)`` of the image, one field per
    image from ``np.random.default_rng(seed)``, is added to the imputed pixels only.
    With every pixel removed nothing is known: the image's mean (per channel) is used.
    """
    flat = [np.asarray(x, dtype=np.float64).reshape(x.shape[0] * x.shape[1], -1) for x, _ in items]
    out = [np.repeat(f[None].astype(np.float32), len(masks), axis=0) for f, (_, masks) in zip(flat, items)]
    uses: dict[tuple[tuple[int, int], bytes], list[tuple[int, int]]] = {}
    for i, (x, masks) in enumerate(items):
        for j, mask in enumerate(np.asarray(masks, dtype=bool)):
            if mask.any():
                uses.setdefault((x.shape[:2], mask.tobytes()), []).append((i, j))
    for (shape, _), users in uses.items():
        i0, j0 = users[0]
        removed = np.asarray(items[i0][1][j0], dtype=bool)
        if removed.all():
            values = [flat[i].mean(axis=0, keepdims=True) for i, _ in users]
        else:
            values = _linear_imputation(shape, removed, [flat[i] for i, _ in users])
        for (i, j), v in zip(users, values):
            out[i][j, removed] = v
    for i, ((x, masks), f) in enumerate(zip(items, flat)):
        spread = float(f.max() - f.min()) if f.size else 0.0
        if noise > 0 and spread > 0:
            field = np.random.default_rng(seed).normal(0.0, noise * spread, size=f.shape).astype(np.float32)
            out[i] += np.where(np.asarray(masks, dtype=bool)[..., None], field[None], np.float32(0))
        out[i] = out[i].reshape((len(masks),) + x.shape)
    return out


def _linear_imputation(shape: tuple[int, int], removed: np.ndarray, images: list[np.ndarray]) -> list[np.ndarray]:
    """Solve ``x_u = W_uu x_u + W_uk x_k`` for the removed pixels ``u`` of each ``(H*W, C)`` image, one LU for all.

    ``I - W_uu`` is irreducibly diagonally dominant whenever a pixel is known (the
    8-connected grid is connected, so every removed region borders a known pixel):
    the system always has one solution.
    """
    lu, coupling = _factorised(shape, removed)
    known = np.hstack(images)[~removed]  # every image's channels as right-hand sides
    solution = lu.solve(np.asarray(coupling @ known))
    widths = np.cumsum([0] + [x.shape[1] for x in images])
    return [solution[:, a:b] for a, b in zip(widths[:-1], widths[1:])]


# Factorisations kept across calls: the seeded random orders remove the same pixels from every input of a shape,
# so a second explanation (a dashboard click, the next chunk of an audit) reuses their LUs.  Bounded by the removed
# pixels they cover (the LU's size grows with them): about 90 MNIST masks fit many times; a 224 x 224 one fills it.
FACTOR_CACHE_UNKNOWNS = 500_000
_factors: OrderedDict[tuple[tuple[int, int], bytes], tuple[Any, sp.csr_matrix, int]] = OrderedDict()
_factors_lock = threading.Lock()
_cached_unknowns = 0


def _factorised(shape: tuple[int, int], removed: np.ndarray) -> tuple[Any, sp.csr_matrix]:
    """``(LU of I - W_uu, W_uk)`` for the removed pixels ``u``, from the cache or factorised (and cached)."""
    key = (shape, removed.tobytes())
    with _factors_lock:
        if key in _factors:
            _factors.move_to_end(key)
            lu, coupling, _ = _factors[key]
            return lu, coupling
    weights = _neighbour_weights(*shape)
    u, k = np.flatnonzero(removed), np.flatnonzero(~removed)
    rows = weights[u]
    lu = spla.splu((sp.identity(len(u), format="csc") - rows[:, u]).tocsc())
    coupling = sp.csr_matrix(rows[:, k])
    global _cached_unknowns
    with _factors_lock:
        if key not in _factors:
            _factors[key] = (lu, coupling, len(u))
            _cached_unknowns += len(u)
        while _cached_unknowns > FACTOR_CACHE_UNKNOWNS and len(_factors) > 1:
            _cached_unknowns -= _factors.popitem(last=False)[1][2]
    return lu, coupling


@lru_cache(maxsize=8)
def _neighbour_weights(height: int, width: int) -> sp.csr_matrix:
    """Row-stochastic ``(H*W, H*W)`` neighbour weights: the paper's 1/6 and 1/12, renormalised where the border cuts."""
    index = np.arange(height * width).reshape(height, width)
    ys, xs = np.divmod(index.ravel(), width)
    rows, cols, values = [], [], []
    for dy, dx, w in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        rows.append(index.ravel()[inside])
        cols.append(ny[inside] * width + nx[inside])
        values.append(np.full(int(inside.sum()), w))
    matrix = sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(height * width,) * 2)
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(1 / np.where(totals > 0, totals, 1.0)) @ matrix)


# ---- tabular rows: Gaussian conditional mean -------------------------------------------------------------
@dataclass(frozen=True)
class _Gaussian:
    """A Gaussian fitted to the background rows, kept standardised (a correlation matrix) so that features on
    very different scales do not make the pseudo-inverse drop real directions."""

    mean: np.ndarray
    std: np.ndarray  # 1.0 where a feature is constant (its correlations are then 0)
    correlation: np.ndarray

    @classmethod
    def fit(cls, predictor: Predictor) -> _Gaussian:
        background = predictor.background
        if background is None or len(background) == 0:
            raise ValueError(
                "ROAD on tabular rows imputes removed features by their conditional mean under a Gaussian fitted to "
                "background rows: build the predictor with background=... (e.g. 100 training rows)."
            )
        rows = np.asarray(background, dtype=np.float64).reshape(len(background), -1)
        mean = rows.mean(axis=0)
        std = rows.std(axis=0)
        std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)
        z = (rows - mean) / std
        return cls(mean, std, z.T @ z / len(rows))

    def impute(self, items: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """For each ``(row, masks)``: the rows with removed features set to ``E[x_removed | x_kept]``, float32.

        ``E = mu_r + S_rk S_kk^+ (x_k - mu_k)``, computed per distinct mask for every row that uses it (a
        least-squares solve, so a singular covariance takes the minimum-norm solution).
        """
        rows = [np.asarray(x, dtype=np.float64).ravel() for x, _ in items]
        if rows and rows[0].size != self.mean.size:
            raise ValueError(f"The background rows have {self.mean.size} features, the explained rows {rows[0].size}.")
        out = [np.repeat(r[None], len(masks), axis=0) for r, (_, masks) in zip(rows, items)]
        uses: dict[bytes, list[tuple[int, int]]] = {}
        for i, (_, masks) in enumerate(items):
            for j, mask in enumerate(np.asarray(masks, dtype=bool)):
                if mask.any():
                    uses.setdefault(mask.tobytes(), []).append((i, j))
        for users in uses.values():
            i0, j0 = users[0]
            removed = np.asarray(items[i0][1][j0], dtype=bool)
            kept = ~removed
            z_kept = np.array([(rows[i][kept] - self.mean[kept]) / self.std[kept] for i, _ in users])
            if kept.any():
                coefficients = np.linalg.lstsq(self.correlation[np.ix_(kept, kept)],
                                               self.correlation[np.ix_(kept, removed)], rcond=1e-10)[0]
                z_removed = z_kept @ coefficients
            else:
                z_removed = np.zeros((len(users), int(removed.sum())))
            values = self.mean[removed] + self.std[removed] * z_removed
            for (i, j), v in zip(users, values):
                out[i][j, removed] = v
        return [o.reshape((len(o),) + np.shape(x)).astype(np.float32) for o, (x, _) in zip(out, items)]

"""The four training streams (unpaired X, unpaired Y, paired X, paired Y) as one infinite iterator.

    streams = build_train_streams(cfg.data, rank=d.rank, size=d.size, seed=cfg.train.seed,
                                  allreduce_min=d.allreduce_min_int)
    for it, batch in zip(range(start, iters), streams.iterate(start)):
        batch["x"]   # (B, 5, 64, 64)   float32, model space (flux-scaled, transformed, augmented)
        batch["y"]   # (B, 5, 136, 136)
        batch["xp"], batch["yp"]         # aligned pairs: same objects, same D4 op
        batch["xp_psf"]  # (B, 5) float32: each stamp's PSF FWHM in arcsec (NaN = unknown), per stream
        batch["x_valid"]  # (B, 5, 64, 64) float32 1/0: unmasked pixels (hpcgan/io/mask_bits.py), same D4 op;
                          # only when a stamp of the batch has a flagged pixel (absent: every pixel counts)

Determinism: the batch of iteration ``i`` is a pure function of ``(seed, rank, i)`` (and the data),
so a resumed run only needs the iteration number. Per stream, an *epoch* is ``batches_per_epoch``
batches drawn from a permutation of the rank's part seeded by ``(seed, rank, epoch, stream)``;
augmentation codes are seeded by ``(seed, rank, i, stream)``. The paired streams share both.

Distribution: each rank owns a contiguous, balanced part of every stream (``rank_range``); parts
differ by at most one stamp, and ``batches_per_epoch`` is the minimum over ranks (``allreduce_min``
hook, else computed from the global count, which gives the same value), so all ranks agree on epoch
boundaries. A part smaller than a batch is cycled (several permutations back to back).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from hpcgan.astro.transforms import d4, random_d4_codes
from hpcgan.config.schema import DataCfg, SurveyCfg
from hpcgan.data.shards import ArraySource, ShardSource, open_source, rank_range, seeing, stamps_to_model
from hpcgan.log import get_logger

log = get_logger(__name__)

STREAMS = ("x", "y", "xp", "yp")
# stream -> (survey side in DataCfg, split, group): streams of one group share indices and D4 codes
STREAM_SPEC = {"x": ("x", "unpaired", 0), "y": ("y", "unpaired", 1),
               "xp": ("x", "paired-train", 2), "yp": ("y", "paired-train", 2)}


@dataclass
class _Stream:
    name: str
    survey: SurveyCfg
    source: ArraySource | ShardSource
    lo: int  # this rank's part [lo, hi) of the (limited) stream
    hi: int
    group: int
    batches_per_epoch: int = 1
    psf: np.ndarray | None = None  # (N, C) PSF FWHM per stamp and band (arcsec, NaN = unknown)


class TrainStreams:
    """Deterministic, infinite, augmented batches of the training streams (see module docstring)."""

    def __init__(self, streams: Sequence[_Stream], batch_size: int, rank: int = 0, seed: int = 0,
                 augment: bool = True, transform: str = "sqrt", num_workers: int = 0):
        self.streams = {s.name: s for s in streams}
        self.batch_size, self.rank, self.seed = int(batch_size), int(rank), int(seed)
        self.augment, self.transform, self.num_workers = augment, transform, int(num_workers)
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}
        groups: dict[int, list[_Stream]] = {}
        for s in streams:
            groups.setdefault(s.group, []).append(s)
        for members in groups.values():  # paired streams must agree on size and epoch length
            if len({(m.lo, m.hi, m.batches_per_epoch) for m in members}) != 1:
                raise ValueError("paired streams differ in size: "
                                 + ", ".join(f"{m.name}: {m.hi - m.lo}" for m in members))

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], cfg: DataCfg = DataCfg(), rank: int = 0, size: int = 1,
                    seed: int = 0, object_ids: Mapping[str, Sequence[str]] | None = None,
                    allreduce_min: Callable[[int], int] | None = None) -> "TrainStreams":
        """Streams from in-memory stamps ``{"x": (N, 5, 64, 64), ...}`` in survey pixel units.

        Keys are any of ``x, y, xp, yp``; ``xp[i]`` and ``yp[i]`` must be the same object. Flux
        scaling, the pixel transform, augmentation and batch size come from ``cfg``.
        """
        object_ids = object_ids or {}
        sources = {k: ArraySource(v, object_ids.get(k)) for k, v in arrays.items()}
        return cls._build(sources, cfg, rank, size, seed, allreduce_min)

    @classmethod
    def _build(cls, sources: Mapping[str, ArraySource | ShardSource], cfg: DataCfg, rank: int, size: int,
               seed: int, allreduce_min: Callable[[int], int] | None) -> "TrainStreams":
        bad = sorted(set(sources) - set(STREAMS))
        if bad:
            raise ValueError(f"streams: unknown {bad}; allowed: {list(STREAMS)}")
        streams = []
        for name in STREAMS:  # fixed order: allreduce_min is a collective
            if name not in sources:
                continue
            side, _, group = STREAM_SPEC[name]
            survey: SurveyCfg = getattr(cfg, side)
            src = sources[name]
            want = (len(survey.bands), survey.stamp_size, survey.stamp_size)
            if tuple(src.shape) != want:
                raise ValueError(f"stream {name}: stamps are {tuple(src.shape)}, data.{side} expects {want}")
            n = len(src)
            if STREAM_SPEC[name][1] == "paired-train" and cfg.holdout_pairs:  # the last pairs are held out
                n -= cfg.holdout_pairs
                if n < 1:
                    raise ValueError(f"data.holdout_pairs: {cfg.holdout_pairs} leaves no pair of the {len(src)} "
                                     f"in paired-train to train on")
            n = n if cfg.limit == 0 else min(n, cfg.limit)
            if n < size:
                raise ValueError(f"stream {name}: {n} stamps cannot feed {size} ranks")
            lo, hi = rank_range(n, rank, size)
            per_epoch = (n // size) // cfg.batch_size  # = min over ranks of local // batch
            if allreduce_min is not None:
                per_epoch = int(allreduce_min((hi - lo) // cfg.batch_size))
            streams.append(_Stream(name, survey, src, lo, hi, group, max(1, per_epoch), seeing(src)))
        _check_pairs(streams)
        ts = cls(streams, cfg.batch_size, rank, seed, cfg.augment, cfg.pixel_transform, cfg.num_workers)
        log.info("streams: " + "; ".join(f"{s.name} {s.hi - s.lo} stamps [{s.lo}:{s.hi}] "
                                          f"{s.batches_per_epoch} batches/epoch" for s in streams))
        return ts

    # ---- batches ------------------------------------------------------------------------------
    def batches_per_epoch(self, name: str) -> int:
        return self.streams[name].batches_per_epoch

    def _order(self, s: _Stream, epoch: int) -> np.ndarray:
        """This rank's visiting order of its part in ``epoch`` (local indices, >= one batch long)."""
        key = (s.group, epoch)
        order = self._perm_cache.get(key)
        if order is None:
            n, need = s.hi - s.lo, s.batches_per_epoch * self.batch_size
            rng = np.random.default_rng([self.seed, self.rank, epoch, s.group])
            reps = -(-need // n)
            order = np.concatenate([rng.permutation(n) for _ in range(reps)])[:need]
            self._perm_cache = {k: v for k, v in self._perm_cache.items() if k[0] != s.group}
            self._perm_cache[key] = order
        return order

    def indices(self, name: str, it: int) -> np.ndarray:
        """Global indices (into the stream's source) of the batch at iteration ``it``."""
        s = self.streams[name]
        epoch, j = divmod(it, s.batches_per_epoch)
        return s.lo + self._order(s, epoch)[j * self.batch_size:(j + 1) * self.batch_size]

    def batch(self, it: int) -> dict[str, torch.Tensor]:
        """The batch of iteration ``it`` (pure function of seed, rank, it)."""
        out = {}
        codes_by_group: dict[int, np.ndarray] = {}
        for name, s in self.streams.items():
            idx = self.indices(name, it)
            uniq, inv = np.unique(idx, return_inverse=True)  # sorted reads; repeats only if cycled
            raw = s.source.read(uniq)
            if self.augment:
                if s.group not in codes_by_group:
                    rng = np.random.default_rng([self.seed, self.rank, it, s.group, 1])
                    codes_by_group[s.group] = random_d4_codes(rng, len(idx))
                aug = np.empty((len(idx), *raw.shape[1:]), np.float32)
                for i, (j, c) in enumerate(zip(inv, codes_by_group[s.group])):
                    aug[i] = d4(raw[j], int(c))  # a strided view copied once
                raw, inv = aug, np.arange(len(idx))
            elif len(uniq) != len(idx) or not np.array_equal(uniq, idx):
                raw = raw[inv]
            x = stamps_to_model(raw, s.source, s.survey.flux_scale, self.transform)
            out[name] = x.contiguous()
            if s.source.has_mask:
                valid = self._valid(s, uniq, idx, codes_by_group.get(s.group))
                if valid is not None:
                    out[f"{name}_valid"] = valid
            out[f"{name}_psf"] = torch.from_numpy(s.psf[idx])  # a rotation or flip keeps the FWHM
        return out

    def _valid(self, s: _Stream, uniq: np.ndarray, idx: np.ndarray, codes: np.ndarray | None) -> torch.Tensor | None:
        """(B, C, H, W) float32 1 where the stamp's mask is 0, with the batch's D4 ops; None when the
        whole batch is valid (the losses then take their plain means)."""
        raw = s.source.read_mask(uniq)
        if not raw.any():
            return None
        m = raw[np.searchsorted(uniq, idx)] == 0
        if codes is not None:
            m = np.stack([d4(v, int(c)) for v, c in zip(m, codes)])
        return torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))

    def iterate(self, start_iter: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Infinite batches from iteration ``start_iter`` on; ``num_workers > 0`` prefetches in
        DataLoader worker processes (each opens the shards itself, after the fork)."""
        if self.num_workers == 0:
            for it in itertools.count(start_iter):
                yield self.batch(it)
            return
        loader = torch.utils.data.DataLoader(_ByIteration(self), batch_size=None, sampler=_Count(start_iter),
                                             num_workers=self.num_workers, prefetch_factor=2,
                                             persistent_workers=False)
        yield from loader

    def __len__(self) -> int:  # not an epoch length: the iterator is infinite
        raise TypeError("TrainStreams is infinite; use batches_per_epoch(name)")


class _ByIteration(torch.utils.data.Dataset):
    def __init__(self, ts: TrainStreams):
        self.ts = ts

    def __getitem__(self, it: int):
        return self.ts.batch(int(it))


class _Count(torch.utils.data.Sampler):
    def __init__(self, start: int):
        self.start = start

    def __iter__(self):
        return itertools.count(self.start)


def _check_pairs(streams: Sequence[_Stream]) -> None:
    by = {s.name: s for s in streams}
    if "xp" in by and "yp" in by:
        a, b = by["xp"], by["yp"]
        ia, ib = a.source.object_ids(), b.source.object_ids()
        if ia is not None and ib is not None:
            if len(ia) != len(ib) or not np.array_equal(ia, ib):
                raise ValueError("paired streams xp/yp are not aligned: object ids differ "
                                 f"({len(ia)} vs {len(ib)} objects)")


def build_train_streams(cfg: DataCfg, rank: int = 0, size: int = 1, seed: int = 0,
                        streams: Sequence[str] = STREAMS,
                        allreduce_min: Callable[[int], int] | None = None) -> TrainStreams:
    """The training streams read from the shards under ``cfg.shards`` (see module docstring)."""
    sources = {}
    for name in streams:
        side, split, _ = STREAM_SPEC[name]
        sources[name] = open_source(cfg.shards, getattr(cfg, side).name, split)
    return TrainStreams._build(sources, cfg, rank, size, seed, allreduce_min)

"""hpcgan.data: pixel transform, D4 augmentation, the training streams and shard reading."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from hpcgan.config.schema import DataCfg, SurveyCfg
from hpcgan.data import (
    TrainStreams,
    d4,
    d4_batch,
    d4_inverse,
    from_model_space,
    inverse_pixel_transform,
    pixel_transform,
    rank_range,
    to_model_space,
)

SMALL = DataCfg(x=SurveyCfg(stamp_size=8), y=SurveyCfg(name="cfht", stamp_size=20, flux_scale=0.001), batch_size=4)


def _pairs(n: int, seed: int = 0):
    """Paired stamps where yp is xp upsampled 2x, padded by 2, and x1000 (CFHT units): aligned by construction."""
    rng = np.random.default_rng(seed)
    xp = rng.normal(size=(n, 5, 8, 8)).astype(np.float32)
    yp = np.pad(xp.repeat(2, -1).repeat(2, -2), ((0, 0), (0, 0), (2, 2), (2, 2))) * 1000
    return xp, yp.astype(np.float32)


def test_pixel_transform_inverse_exact():
    x = np.concatenate([np.linspace(-1e4, 1e4, 20001), [0.0, 1e-8, -1e-8, 3.5e5]]).astype(np.float64)
    np.testing.assert_allclose(inverse_pixel_transform(pixel_transform(x)), x, rtol=1e-12, atol=1e-15)
    t = torch.from_numpy(x.astype(np.float32))
    np.testing.assert_allclose(inverse_pixel_transform(pixel_transform(t)).numpy(), t.numpy(), rtol=1e-5, atol=1e-6)
    assert pixel_transform(np.array([3.0]))[0] == 1.0 and pixel_transform(np.array([-8.0]))[0] == -2.0
    raw = np.array([-2500.0, 0.0, 8000.0])
    np.testing.assert_allclose(from_model_space(to_model_space(raw, 0.001), 0.001), raw, rtol=1e-12)


def test_d4_group_and_inverse():
    a = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    seen = set()
    for c in range(12):
        b = d4(a, c)
        np.testing.assert_array_equal(d4_inverse(b, c), a)
        np.testing.assert_array_equal(d4(torch.from_numpy(a), c).numpy(), b)
        seen.add(b.tobytes())
    assert len(seen) == 8  # the 12 codes cover the 8 elements of D4
    np.testing.assert_array_equal(d4(a, 3), np.rot90(a, 1, axes=(-2, -1)))  # k=1, no flip
    np.testing.assert_array_equal(d4(a, 1), a[..., ::-1, :])  # vertical flip
    codes = np.array([5, 0])
    out = d4_batch(torch.from_numpy(a), codes)
    for i, c in enumerate(codes):
        np.testing.assert_array_equal(out[i].numpy(), d4(a[i], c))


def test_streams_shapes_determinism_and_pairs_aligned():
    xp, yp = _pairs(30)
    rng = np.random.default_rng(1)
    arrays = {"x": rng.normal(size=(21, 5, 8, 8)), "y": rng.normal(size=(13, 5, 20, 20)) * 1000, "xp": xp, "yp": yp}
    ts = TrainStreams.from_arrays(arrays, SMALL, rank=1, size=2, seed=7)
    it = ts.iterate(start_iter=3)
    b3, b4 = next(it), next(it)
    assert b3["x"].shape == (4, 5, 8, 8) and b3["y"].shape == (4, 5, 20, 20) and b3["x"].dtype == torch.float32
    again = TrainStreams.from_arrays(arrays, SMALL, rank=1, size=2, seed=7)
    assert b3["x_psf"].shape == (4, 5) and torch.isnan(b3["x_psf"]).all()  # arrays carry no seeing
    for k in b3:  # batch i depends only on (seed, rank, i): resuming at 4 gives the same batch
        assert torch.equal(b3[k], again.batch(3)[k]) or k.endswith("_psf")
        assert torch.equal(b4[k], next(again.iterate(4))[k]) or k.endswith("_psf")
    other = TrainStreams.from_arrays(arrays, SMALL, rank=0, size=2, seed=7).batch(3)
    assert not torch.equal(other["x"], b3["x"])
    for i in range(12):  # augmented pairs stay aligned: undo the construction of yp from xp
        b = ts.batch(i)
        back = b["yp"][:, :, 2:-2, 2:-2][..., ::2, ::2]
        torch.testing.assert_close(back, b["xp"], rtol=1e-5, atol=1e-5)
        assert np.array_equal(ts.indices("xp", i), ts.indices("yp", i))


def test_streams_flux_scale_and_no_augment():
    xp, yp = _pairs(8)
    cfg = DataCfg(x=SMALL.x, y=SMALL.y, batch_size=8, augment=False)
    b = TrainStreams.from_arrays({"xp": xp, "yp": yp}, cfg, seed=0).batch(0)
    order = TrainStreams.from_arrays({"xp": xp, "yp": yp}, cfg, seed=0).indices("xp", 0)
    np.testing.assert_allclose(b["xp"].numpy(), pixel_transform(xp[order]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b["yp"].numpy(), pixel_transform(yp[order] * 0.001), rtol=1e-5, atol=1e-6)
    assert sorted(order) == list(range(8))  # one epoch = every object once, permuted


@pytest.mark.parametrize("n", [7, 40, 41, 43, 100])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_equal_batches_per_epoch_uneven_parts(n, size):
    """Every rank agrees on the epoch length; parts are disjoint, balanced, and cover the data."""
    parts = [rank_range(n, r, size) for r in range(size)]
    assert parts[0][0] == 0 and parts[-1][1] == n and all(parts[i][1] == parts[i + 1][0] for i in range(size - 1))
    assert max(h - l for l, h in parts) - min(h - l for l, h in parts) <= 1
    x = np.zeros((n, 5, 8, 8), np.float32)
    x[:, 0, 0, 0] = np.arange(n)
    local_counts = [(h - l) // SMALL.batch_size for l, h in parts]
    fake_allreduce = lambda v: min(local_counts)  # what Dist.allreduce_min_int returns
    per_epoch = set()
    for hook in (None, fake_allreduce):
        seen = []
        for r in range(size):
            ts = TrainStreams.from_arrays({"x": x}, DataCfg(x=SMALL.x, y=SMALL.y, batch_size=4, augment=False),
                                          rank=r, size=size, seed=3, allreduce_min=hook)
            per_epoch.add(ts.batches_per_epoch("x"))
            e = ts.batches_per_epoch("x")
            idx = np.concatenate([ts.indices("x", i) for i in range(e)])
            assert len(idx) == e * 4
            lo, hi = parts[r]
            assert idx.min() >= lo and idx.max() < hi
            if hi - lo >= 4:
                assert len(np.unique(idx)) == len(idx)  # no repeats within an epoch
            seen.append(set(idx.tolist()))
        assert all(not (seen[a] & seen[b]) for a in range(size) for b in range(a + 1, size))
    assert len(per_epoch) == 1


def test_misaligned_pairs_rejected():
    xp, yp = _pairs(6)
    with pytest.raises(ValueError, match="not aligned"):
        TrainStreams.from_arrays({"xp": xp, "yp": yp}, SMALL, object_ids={"xp": list("abcdef"), "yp": list("abcdfe")})
    with pytest.raises(ValueError, match="differ in size"):
        TrainStreams.from_arrays({"xp": xp, "yp": yp[:5]}, SMALL)
    with pytest.raises(ValueError, match="expects"):
        TrainStreams.from_arrays({"x": yp}, SMALL)

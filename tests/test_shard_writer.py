"""The public shard writer (hpcgan/io/shard_writer.py) driven by a batch producer of its own, as translate does."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from hpcgan.io import shard_writer as sw
from hpcgan.io.shard_writer import Batch, Job, JobPart, Row, SurveyOut, columns, write_manifest
from hpcgan.io.shards import open_source


def _produce(units: list[tuple[Row, ...]], b0: int) -> Batch:
    """Stamp i is filled with i; the last unit of each batch is quarantined."""
    batch = Batch([[]], columns(1))
    for j, (row,) in enumerate(units):
        if j == len(units) - 1:
            batch.quarantine.append({"row": row.row, "object_id": row.object_id, "reason": "test"})
            continue
        batch.images[0].append(np.full((2, 4, 4), b0 + j, np.float32))
        o = batch.objects[0]
        for k, v in (("object_id", row.object_id), ("ra", row.ra), ("dec", row.dec), ("catalog_row", row.row),
                     ("nan_filled", [0, 0]), ("wcs", ""), ("psf_fwhm", [1.0, 1.0]), ("sky_sigma", [None, None]),
                     ("mag_zp", [22.5, 22.5])):
            o[k].append(v)
    return batch


def test_custom_producer_writes_commits_and_is_kept_on_rerun(tmp_path):
    job = Job("unpaired", ("s",), [(Row(i + 1, f"o{i}", "s", "unpaired", "", 10.0, 1.0),) for i in range(7)])
    outs = [SurveyOut.at(tmp_path, "s", ("g", "r"), 4, "unpaired", 0, 1)]

    def part() -> JobPart:
        return JobPart(job, 0, 7, 0, 1, tmp_path, outs, _produce, {"stage": "test"}, {"s": {}}, "key", 3)

    done = part().run()
    assert done["shards"][0]["count"] == 4 and len(done["quarantine"]) == 3  # batches [0,3) [3,6) [6,7)
    with h5py.File(outs[0].final, "r") as f:
        assert [int(im[0, 0, 0]) for im in f["images"][()]] == [0, 1, 3, 4]
        assert list(f["object_id"].asstr()[()]) == ["o0", "o1", "o3", "o4"] and f.attrs["stage"] == "test"
    assert part().run() == done  # finished: only verified
    src = open_source(tmp_path, "s", "unpaired")  # the format module's reader reads what the writer wrote
    assert len(src) == 4 and src.shape == (2, 4, 4) and src.has_mask and not src.read_mask(np.arange(4)).any()
    assert src.read(np.array([1, 3]))[:, 0, 0, 0].tolist() == [1, 4] and src.grids() == [""] * 4
    stale = tmp_path / "s/unpaired/part-0-of-2.h5"
    stale.write_bytes(b"")
    write_manifest(tmp_path, {"shards": done["shards"]}, 1)
    assert not stale.exists() and json.loads((tmp_path / "manifest.json").read_text())["shards"] == done["shards"]


def _wide(units: list[tuple[Row, ...]], b0: int) -> Batch:
    """Every unit accepted, with a 4 KB ``wcs`` text and no ``sky_level`` (NaN in the shard)."""
    batch = Batch([[]], columns(1))
    for j, (row,) in enumerate(units):
        batch.images[0].append(np.full((2, 4, 4), b0 + j, np.float32))
        o = batch.objects[0]
        for k, v in (("object_id", row.object_id), ("ra", row.ra), ("dec", row.dec), ("catalog_row", row.row),
                     ("nan_filled", [j, 0]), ("wcs", f"{row.object_id:<4096}"), ("psf_fwhm", [1.0, None]),
                     ("sky_sigma", [0.5, 0.5]), ("mag_zp", [22.5, 22.5])):
            o[k].append(v)
    return batch


def _wide_part(root, n: int, batch: int) -> tuple[JobPart, SurveyOut]:
    job = Job("unpaired", ("s",), [(Row(i + 1, f"o{i}", "s", "unpaired", "", 10.0 + i, 1.0),) for i in range(n)])
    out = SurveyOut.at(root, "s", ("g", "r"), 4, "unpaired", 0, 1)
    return JobPart(job, 0, n, 0, 1, root, [out], _wide, {}, {"s": {}}, "key", batch), out


def test_columns_written_group_by_group_and_a_resumed_part_is_bit_identical(tmp_path, monkeypatch):
    monkeypatch.setattr(sw, "FINALIZE_OBJECTS", 4)  # groups of 2 batches of 3 (the last one smaller)
    part, whole = _wide_part(tmp_path / "a", 11, 3)
    part.run()
    monkeypatch.setenv(sw.RAISE_ENV, "2")
    part, resumed = _wide_part(tmp_path / "b", 11, 3)
    with pytest.raises(RuntimeError, match="test hook"):
        part.run()
    monkeypatch.delenv(sw.RAISE_ENV)
    done = _wide_part(tmp_path / "b", 11, 3)[0].run()
    assert done["shards"][0]["count"] == 11
    assert whole.final.read_bytes() == resumed.final.read_bytes()
    with h5py.File(whole.final, "r") as f:
        assert list(f["object_id"].asstr()[()]) == [f"o{i}" for i in range(11)]
        assert list(f["catalog_row"][()]) == list(range(1, 12)) and list(f["ra"][()]) == [10.0 + i for i in range(11)]
        assert [w.rstrip() for w in f["wcs"].asstr()[()]] == [f"o{i}" for i in range(11)]
        assert f["nan_filled"][()][:, 0].tolist() == [0, 1, 2] * 3 + [0, 1]
        assert np.isnan(f["psf_fwhm"][()][:, 1]).all() and (f["psf_fwhm"][()][:, 0] == 1).all()
        assert np.isnan(f["sky_level"][()]).all() and f["sky_level"].shape == (11, 2)
        assert [int(im[0, 0, 0]) for im in f["images"][()]] == list(range(11))


def test_run_does_not_hold_the_columns_of_committed_batches(tmp_path):
    """4,000 stamps with 4 KB of ``wcs`` text each (16 MB): the part's peak Python memory stays far
    below that (about one batch, one finalize group, and the 4 MB blocks the checksum reads)."""
    import tracemalloc

    sw.FINALIZE_OBJECTS, keep = 200, sw.FINALIZE_OBJECTS
    try:
        part, out = _wide_part(tmp_path, 4000, 200)
        tracemalloc.start()
        part.run()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        sw.FINALIZE_OBJECTS = keep
    with h5py.File(out.final, "r") as f:
        assert f["wcs"].shape == (4000,) and f["object_id"].asstr()[3999] == "o3999"
    assert peak < 11 << 20, f"peak {peak / 2**20:.1f} MiB"

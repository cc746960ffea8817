"""The public shard writer (hpcgan/io/shard_writer.py) driven by a batch producer of its own, as translate does."""
from __future__ import annotations

import json

import h5py
import numpy as np

from hpcgan.io.shard_writer import Batch, Job, JobPart, Row, SurveyOut, columns, write_manifest


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
    stale = tmp_path / "s/unpaired/part-0-of-2.h5"
    stale.write_bytes(b"")
    write_manifest(tmp_path, {"shards": done["shards"]}, 1)
    assert not stale.exists() and json.loads((tmp_path / "manifest.json").read_text())["shards"] == done["shards"]

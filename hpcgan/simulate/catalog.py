"""The simulation's ``catalog.csv`` (columns in docs/formats.md): rows, ordering, atomic writing."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Sequence

from hpcgan.astro.surveys import SurveySpec
from hpcgan.simulate.galaxies import SERSIC_N, Scene
from hpcgan.utils.atomic import atomic_write_text

SPLITS = ("unpaired", "paired-train", "paired-test", "paired-train-truth", "paired-test-truth")
TRUTH_COLUMNS = ("mag_r", "hlr_arcsec", "bulge_hlr_arcsec", "q", "beta_deg", "sersic_n", "bulge_frac",
                 "redshift", "n_neighbours", "n_stars")


def columns(bands: Sequence[str]) -> list[str]:
    """Catalog columns for a band list (both surveys must share it)."""
    return ["object_id", "survey", "split", "path", "truth_path", "ra", "dec", *(f"flux_{b}" for b in bands),
            *TRUTH_COLUMNS]


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return repr(v)  # shortest round-trip text: the same float always prints the same
    return str(v)


def make_row(object_id: str, split: str, path: str, scene: Scene, spec: SurveySpec,
             truth_path: str = "") -> dict[str, str]:
    """One catalog row: where the stamp (and its noise-free twin, if any) is and the true parameters of
    its central galaxy."""
    row: dict[str, object] = {"object_id": object_id, "survey": spec.name, "split": split, "path": path,
                              "truth_path": truth_path, "ra": scene.ra, "dec": scene.dec}
    for b in spec.bands:
        row[f"flux_{b.name}"] = spec.flux(scene.central_mag(b.name))
    row.update(mag_r=scene.mag_r, hlr_arcsec=scene.hlr, bulge_hlr_arcsec=scene.bulge_hlr, q=scene.q,
               beta_deg=scene.beta_deg, sersic_n=SERSIC_N, bulge_frac=scene.bulge_frac, redshift=scene.redshift,
               n_neighbours=scene.n_neighbours, n_stars=scene.n_stars)
    return {k: _fmt(v) for k, v in row.items()}


def sort_key(survey_order: Sequence[str]):
    """Rows ordered by survey (X first), split (as :data:`SPLITS`), then object id."""
    return lambda r: (survey_order.index(r["survey"]), SPLITS.index(r["split"]), r["object_id"])


def to_csv(rows: Iterable[dict[str, str]], cols: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(cols), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_catalog(path: str | Path, rows: Iterable[dict[str, str]], cols: Sequence[str]) -> None:
    """Write a catalog (or a rank's partial catalog) atomically."""
    atomic_write_text(path, to_csv(rows, cols))


def read_catalog(path: str | Path) -> list[dict[str, str]]:
    """Rows of a catalog as string mappings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))

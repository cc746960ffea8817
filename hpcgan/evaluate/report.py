"""The side-by-side table ``hpcgan evaluate`` prints: per band, translation / baseline / real noisy
stamps against the truth (or, without truth, translation / baseline against the real stamps)."""
from __future__ import annotations

from hpcgan.evaluate.score import REAL

ROW = {"translation": "translation", "baseline": "baseline", REAL: "real noisy"}


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def table(res: dict) -> str:
    """Plain-text table of the headline numbers of a metrics dict (``None`` shown as ``-``)."""
    radii = [f"{r:g}" for r in res["aperture_radii_arcsec"]]
    lines = [f"{res['n_objects']} objects, {res['direction']} {res['source_survey']} -> {res['target_survey']}, "
             f"split {res['split']}"]
    if res["vs_truth"]:
        head = ["band", "vs truth"] + [f"bias@{r}\"" for r in radii] + [f"NMAD@{r}\"" for r in radii]
        head += ["r50 bias", "e1 NMAD", "MSE(model)", "resid rms", "HF resid/real", "bkg sigma/real", "bkg offset/sigma", "midk bkg/real"]
        rows = []
        for b, per in res["vs_truth"].items():
            for name, v in per.items():
                ap = v["aperture_flux"]
                rows.append([b, ROW[name], *(_f(ap[r]["bias"], "+.4f") for r in radii),
                             *(_f(ap[r]["nmad"], ".4f") for r in radii), _f(v["r50"]["bias"], "+.3f"),
                             _f(v["e1"]["nmad"], ".3f"), _f(v["mse_model_space"], ".3g"), _f(v["residual_rms"], ".3g"),
                             _f(v["residual_power"]["hf_ratio_vs_real_residual"], ".3f"),
                             _f(v["background_sigma"]["ratio_vs_real"], ".3f"),
                             _f(v.get("background_offset", {}).get("in_real_sigma"), "+.3f"),
                             _f(v["residual_power"]["midk_background_ratio_vs_real_residual"], ".3g")])
    else:
        lines.append(res["truth_note"])
        head = ["band", "vs real"] + [f"bias@{r}\"" for r in radii] + [f"NMAD@{r}\"" for r in radii]
        head += ["HF power", "bkg KS D", "MSE(model)"]
        rows = []
        for b, per in res["vs_real"].items():
            for name, v in per.items():
                ap = v["aperture_flux"]
                rows.append([b, ROW[name], *(_f(ap[r]["bias"], "+.4f") for r in radii),
                             *(_f(ap[r]["nmad"], ".4f") for r in radii), _f(v["fourier"]["hf_power_ratio"], ".3f"),
                             _f(v["background_ks"]["D"], ".3f"), _f(v["mse_model_space"], ".3g")])
    m = res.get("masked")
    if m and any(m["union_pixels"].values()):
        lines.append("masked pixels left out, per set in row order (then the truth): " + ", ".join(
            str(sum(v.values())) for v in m["pixels"].values()) +
            "; objects with any, per band: " + " ".join(f"{b} {v}" for b, v in m["objects"].items()))
    lines += _aligned(head, rows)
    lines += _nmad_vs_baseline(res.get("vs_truth") or {}, radii)
    if res.get("colours_vs_truth"):
        head = ["colour", "vs truth"] + [f"bias@{r}\"" for r in radii] + [f"NMAD@{r}\"" for r in radii]
        rows = [[pair, ROW[name], *(_f(v[r]["median"], "+.4f") for r in radii), *(_f(v[r]["nmad"], ".4f") for r in radii)]
                for pair, per in res["colours_vs_truth"].items() for name, v in per.items()]
        lines += ["colours (mag)", *_aligned(head, rows)]
    return "\n".join(lines)


def _nmad_vs_baseline(vs_truth: dict, radii: list[str]) -> list[str]:
    """The translation's aperture-flux NMAD minus the baseline's, with its paired-bootstrap 68% interval
    and the share of resamples where the translation's is the lower (empty without a baseline)."""
    rows = []
    for b, per in vs_truth.items():
        d = per.get("translation", {}).get("aperture_flux_nmad_vs_baseline")
        if d:
            rows.append([b, "", *(f"{d[r]['delta']:+.4f} [{d[r]['lo']:+.4f}, {d[r]['hi']:+.4f}] {d[r]['p_below']:.2f}"
                                  for r in radii)])
    if not rows:
        return []
    return ["NMAD translation - baseline, paired bootstrap: difference [68% interval] P(translation lower)",
            *_aligned(["band", ""] + [f"NMAD@{r}\"" for r in radii], rows)]


def _aligned(head: list, rows: list[list]) -> list[str]:
    width = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return ["  ".join(str(x).rjust(w) if i > 1 else str(x).ljust(w) for i, (x, w) in enumerate(zip(r, width)))
            for r in [head, *rows]]

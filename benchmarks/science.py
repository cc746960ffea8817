"""The results table: every variant, the beyond-the-paper options and the two baselines (strong and
naive), both directions, all five bands, on one stated budget, scored against the noise-free truth by
``hpcgan evaluate`` (photometry, sizes, colours and the noise: background sigma, high-k and mid-k power).

    python benchmarks/science.py                          # the default budget (docs/results.md)
    python benchmarks/science.py --iters1 40 --iters2 40 --n-paired 120 --out /tmp/sci   # quicker
    python benchmarks/science.py --report-only            # rebuild docs/results.md from what is there
    python benchmarks/science.py --seed 777 --mag-max 20 --out /tmp/sci2   # another sample, fainter galaxies

Every stage is the user's own command (``hpcgan simulate/preprocess/train/translate/evaluate``), so
the table measures the product, not a side path. Everything resumes: a finished training run, a
committed translation and an existing metrics.json are kept, so a killed run continues where it was
and the report can be rebuilt at any time. Two-step variants whose step 1 is the same share one
step-1 run (``train.init_from``): the paper's (ours, unpaired_only, paired_only and the options without
config files) ``train/step1``; an option with config files (which may set ``model.ne_space``) its own,
trained with those files, ``train/step1-<files>``.
Writes ``<out>/results.json``, learning-curve PNGs under ``<out>/curves/`` and (``--docs``) the
markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hpcgan.train.step2 import RECIPES  # noqa: E402

# name -> (train.variant, extra config files layered on the base, extra overrides)
OPTIONS: dict[str, tuple[str, list[str], list[str]]] = {
    **{v: (v, [], []) for v in RECIPES},
    "ours+linear_out": ("ours", ["variants/linear_out.yaml"], []),
    "ours+residual": ("ours", ["variants/residual.yaml"], []),
    "ours+residual+kernel": ("ours", ["variants/residual_kernel.yaml"], []),
    "ours+residual+strong": ("ours", ["variants/residual_strong.yaml"], []),
    "ours+residual+strong+kernel": ("ours", ["variants/residual_strong_kernel.yaml"], []),
    # the base through the radial transfer function fitted on the training pairs (model.residual_filter_bins)
    "ours+residual+strong+filter": ("ours", ["variants/residual_strong.yaml"], ["model.residual_filter_bins=16"]),
    # the paper's ablations on the shipped recipe: the same base, noise emulators and gain fit, one loss term
    # (or the noise) taken away
    **{f"{v}+residual+strong": (v, ["variants/residual_strong.yaml"], []) for v in ("no_noise", "paired_only",
                                                                                     "unpaired_only")},
}
BASELINES = {"baseline": ["baseline.pipeline=strong", "--add-noise"],  # the comparator: a target-survey image
             "baseline-naive": ["baseline.pipeline=naive"],  # the earlier results' baseline (noise-free)
             "baseline-clean": ["baseline.pipeline=strong"]}  # the strong pipeline's noise-free estimate
CLEAN = "-clean"  # an option's non-noise part G(x) (translate --no-noise), scored against baseline-clean
BANDS = ("u", "g", "r", "i", "z")
DIRECTIONS = ("x2y", "y2x")
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np"]
STEP2_ONLY = ("train.iters=", "train.lr_decay_every=", "model.residual_filter")  # left out of step 1 and its key


def run(cmd: list[str], log: Path) -> None:
    """Run one stage command, appending its output to ``log``; raise with the log's tail on failure."""
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        tail = log.read_text().splitlines()[-15:]
        raise RuntimeError(f"exit {rc}: {' '.join(cmd)}\n" + "\n".join(tail))


class Science:
    """One budget, one simulated pair, every option."""

    def __init__(self, a: argparse.Namespace, root: Path | None = None, sample: list[str] = (), draws: int = 1):
        """``root``: where this sample's data, translations and evaluations go (default ``--out``; the
        training runs are always under ``--out``); ``sample``: its ``simulate.*`` overrides; ``draws``: noise
        realisations translated per object and pooled by evaluate (``evaluate.realisations``)."""
        self.a, self.out = a, Path(a.out).resolve()
        self.root, self.draws = root or self.out, draws
        self.py = sys.executable
        self.hpcgan = [self.py, "-m", "hpcgan.cli"]
        self.log = self.out / "science.log"
        self.base = ["simulate.out=" + str(self.root / "sim"), f"simulate.n_paired={a.n_paired}",
                     f"simulate.seed={a.seed}", f"simulate.mag_max={a.mag_max}",
                     f"simulate.n_unpaired={a.n_unpaired}", *sample,
                     "preprocess.catalog=" + str(self.root / "sim/catalog.csv"),
                     "preprocess.out=" + str(self.root / "shards"), "data.shards=" + str(self.root / "shards"),
                     f"data.batch_size={a.batch}", f"model.width={a.width}", "train.channels_last=true",
                     "train.log_every=10", "train.sample_every=0", f"train.eval_every={a.eval_every}",
                     "train.eval_count=64", f"train.lr_decay_every={max(1, int(0.8 * max(a.iters1, a.iters2)))}",
                     "evaluate.grid_count=6", *a.set]

    def stage(self, args: list[str], ranks: int = 1, configs: list[str] = (), sets: list[str] = ()) -> None:
        cfgs = [x for c in ["default", *configs] for x in ("-c", c)]
        cmd = (MPIRUN + [str(ranks)] if ranks > 1 else []) + self.hpcgan + args + cfgs + self.base + list(sets)
        run(cmd, self.log)

    @classmethod
    def test_sample(cls, a: argparse.Namespace) -> "Science":
        """An independent paired-test sample of ``--test-n`` objects (``simulate.seed`` + 1, the same
        magnitude range, no training pairs; 64 unpaired stamps per survey, where the baseline measures the
        target survey's noise) under ``<out>/test<N>``: the trained checkpoints and the baseline translate
        it, so biases and NMAD differences are measured on enough objects to decide them (the training sample's 120 leave a u-band median uncertain by ~1.4%)."""
        return cls(a, Path(a.out).resolve() / f"test{a.test_n}",
                   [f"simulate.n_paired={a.test_n}", f"simulate.seed={a.seed + 1}", "simulate.n_unpaired=64",
                    "simulate.paired_test_fraction=1.0"], a.test_realisations)

    def data(self) -> None:
        if not (self.root / "shards/manifest.json").is_file():
            self.stage(["simulate"], ranks=2)
            self.stage(["preprocess"], ranks=2)

    def checkpoint(self, name: str) -> Path:
        """The run dir of option ``name`` that translates."""
        variant = OPTIONS[name][0]
        tdir = self.out / "train" / name
        return tdir / variant if RECIPES[variant].single_step else tdir / f"{variant}-step2"

    def train(self, name: str) -> Path:
        """Train option ``name``; returns the checkpoint run dir that translates."""
        variant, configs, sets = OPTIONS[name]
        r = RECIPES[variant]
        tdir = self.out / "train" / name
        common = [f"train.variant={variant}", f"train.run_dir={tdir}"]
        if r.single_step:
            self.stage(["train", "--step", "1"], configs=configs, sets=common + [f"train.iters={self.a.iters1}", *sets])
            return self.checkpoint(name)
        init = []
        if r.noise != "none":  # step 1: shared by the options of the same configs (which may change the
            # noise emulators, e.g. model.ne_space) and the same sets, step 2's length left out
            sets1 = [x for x in sets if not x.startswith(STEP2_ONLY)]
            key = "+".join([Path(c).stem for c in configs] + sets1)
            s1 = self.out / "train" / ("step1" + (f"-{key}" if key else ""))
            self.stage(["train", "--step", "1"], configs=configs,
                       sets=[f"train.run_dir={s1}", f"train.iters={self.a.iters1}", *sets1])
            init = [f"train.init_from={s1 / 'ours-step1'}"]
        self.stage(["train", "--step", "2"], configs=configs, sets=common + init + [f"train.iters={self.a.iters2}", *sets])
        return self.checkpoint(name)

    def translate(self, name: str, ckpt: Path | None, direction: str, clean: bool = False) -> Path:
        """Translate this sample's paired-test split with a checkpoint, or a baseline (``ckpt`` None);
        ``clean``: the checkpoint's non-noise part (``--no-noise``, one draw) under ``<name>-clean``."""
        out = self.root / "translate" / (name + CLEAN * clean) / direction
        if ckpt is None:
            args = ["translate", "--method", "resample", *BASELINES[name]]
        else:
            args = ["translate", "--checkpoint", str(ckpt), *["--no-noise"] * clean]
        draws = 1 if clean or name == "baseline-clean" else self.draws
        self.stage(args + ["--direction", direction, "--out", str(out), "--batch-size", "16"], ranks=2,
                   sets=[f"translate.n_realisations={draws}"])
        return out

    def evaluate(self, name: str, tr: Path, baseline: Path, direction: str, draws: int | None = None) -> dict:
        out = self.root / "eval" / name / direction
        m = out / "metrics.json"
        draws = self.draws if draws is None else draws
        sha = json.loads((tr / "manifest.json").read_text()).get("checkpoint_sha256")
        done = json.loads(m.read_text()) if m.is_file() else {}
        if not done or done.get("checkpoint_sha256") != sha or done.get("realisations", 1) != draws:
            self.stage(["evaluate", "--translations", str(tr), "--baseline", str(baseline), "--out", str(out)],
                       sets=[f"evaluate.realisations={draws}"])
        return json.loads((out / "metrics.json").read_text())

    def go(self) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        res = self.load()
        if not self.a.report_only:
            self.data()
            base = {d: self.translate("baseline", None, d) for d in DIRECTIONS}
            for d in DIRECTIONS:
                self.evaluate("baseline-naive", self.translate("baseline-naive", None, d), base[d], d)
            for name in self.a.options:
                t = time.time()
                try:
                    ckpt = self.train(name)
                    for d in DIRECTIONS:
                        self.evaluate(name, self.translate(name, ckpt, d), base[d], d)
                    res["wall_s"][name] = res["wall_s"].get(name, 0.0) + time.time() - t
                except RuntimeError as e:  # one option failing must not lose the others
                    res["errors"][name] = str(e)[-2000:]
                    print(f"science: {name} failed: {str(e).splitlines()[0]}", flush=True)
                self.save(res)
            res["wall_s"]["total_this_call"] = time.time() - t0
        self.save(res)
        return res

    def score_test_sample(self, names: list[str]) -> None:
        """Translate this (test) sample with every trained option and the baselines, and evaluate."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.data()
        base = {d: self.translate("baseline", None, d) for d in DIRECTIONS}
        clean = {d: self.translate("baseline-clean", None, d) for d in DIRECTIONS}
        for name in ["baseline-naive", *names]:
            ckpt = None if name == "baseline-naive" else self.checkpoint(name)
            if ckpt is not None and not ckpt.is_dir():
                print(f"science: {name} has no trained run ({ckpt}); left out of the test sample", flush=True)
                continue
            for d in DIRECTIONS:
                self.evaluate(name, self.translate(name, ckpt, d), base[d], d)
                if ckpt is not None:  # the learnt part without noise draws: G(x) against the noise-free pipeline
                    self.evaluate(name + CLEAN, self.translate(name, ckpt, d, clean=True), clean[d], d, draws=1)

    def load(self) -> dict:
        p = self.out / "results.json"
        res = json.loads(p.read_text()) if p.is_file() else {"wall_s": {}, "errors": {}}
        budget = {k: getattr(self.a, k) for k in ("n_paired", "n_unpaired", "width", "batch", "iters1", "iters2",
                                                   "seed", "mag_max", "set")}
        if "budget" in res and res["budget"] != budget and not self.a.report_only:
            raise SystemExit(f"science: {self.out} holds a run at another budget ({res['budget']}); "
                             "use another --out, or the same options")
        res.setdefault("budget", budget)  # --report-only: the budget the outputs were made with
        return res

    def save(self, res: dict) -> None:
        (self.out / "results.json").write_text(json.dumps(res, indent=1))


def headline(m: dict, who: str, band: str = "r") -> dict | None:
    """The truth metrics of one row of a metrics.json, for one band."""
    vt = (m.get("vs_truth") or {}).get(band, {}).get(who)
    if not vt:
        return None
    ap = vt["aperture_flux"]
    key3 = next(k for k in ap if float(k) == 3.0)
    key15 = next(k for k in ap if float(k) == 1.5)
    rp = vt["residual_power"]
    return {"bias3": ap[key3]["bias"], "bias3_err": ap[key3].get("bias_err"), "nmad3": ap[key3]["nmad"],
            "bias15": ap[key15]["bias"], "r50_err": vt["r50"].get("bias_err"),
            "nmad15": ap[key15]["nmad"], "mse": vt["mse_model_space"], "r50": vt["r50"]["bias"],
            "e1": vt["e1"]["nmad"], "hf": rp["hf_ratio_vs_real_residual"],
            "bg": (vt.get("background_sigma") or {}).get("ratio_vs_real"),
            "bg_offset": (vt.get("background_offset") or {}).get("in_real_sigma"),
            "midk_bg": rp.get("midk_background_ratio_vs_real_residual"), "midk": rp.get("midk_ratio_vs_real_residual"),
            "vs_base3": (vt.get("aperture_flux_nmad_vs_baseline") or {}).get(key3)}


def colours(m: dict, who: str) -> dict:
    """``{pair: (bias, nmad, bias's standard error)}`` of the 3" colours of one row (mag)."""
    out = {}
    for pair, per in (m.get("colours_vs_truth") or {}).items():
        v = per.get(who)
        if v:
            key3 = next(k for k in v if float(k) == 3.0)
            out[pair] = (v[key3]["median"], v[key3]["nmad"], v[key3].get("median_err"))
    return out


def curves(out: Path, names: list[str]) -> list[str]:
    """Validation-vs-truth learning curves (val/* of every run's metrics.jsonl), one PNG per metric."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    (out / "curves").mkdir(exist_ok=True)
    for metric, ylabel in (("mse", "MSE vs truth (model space)"), ("ap3_bias", "r-band 3\" flux bias vs truth"),
                           ("ap3_nmad", "r-band 3\" flux NMAD vs truth")):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=metric != "ap3_bias")
        for ax, d in zip(axes, DIRECTIONS):
            for name in names:
                for mj in sorted((out / "train" / name).glob("*/metrics.jsonl")):
                    rows = [json.loads(x) for x in mj.read_text().splitlines() if x.strip()]
                    key = f"val/{metric}_{d}"
                    pts = [(r["iter"], r[key]) for r in rows if r.get(key) is not None and "iter" in r]
                    if pts:
                        it, v = zip(*pts)
                        ax.plot(it, v, marker=".", label=name)
            ax.set_title(f"{d} ({'SDSS -> CFHT' if d == 'x2y' else 'CFHT -> SDSS'})")
            ax.set_xlabel("iteration")
            ax.set_ylabel(ylabel)
            if metric == "mse":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        p = out / "curves" / f"{metric}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        made.append(str(p))
    return made


def report(out: Path, res: dict, names: list[str], cmd: str, sample: str = "") -> str:
    """The markdown results tables (from ``out/eval``): per direction and band every option, the two
    baselines and the noise floor; then the 3" colours. ``sample``: what is scored, when it is not the
    training sample's paired-test split."""
    b = res["budget"]
    lines = [sample + f"Budget: {b['n_paired']} paired objects (half held out: paired-test), {b['n_unpaired']} unpaired per "
             f"survey (simulate.seed {b.get('seed')}, central galaxies r < {b.get('mag_max')}); width {b['width']}, "
             f"batch {b['batch']} per stream; step 1 {b['iters1']} iterations, step 2 {b['iters2']} (single-step "
             f"variants: {b['iters1']}); overrides {b['set']}. Command: `{cmd}`. Columns: 3\" and 1.5\" aperture flux "
             "bias (+- its standard error) / NMAD, r50 bias (+- its standard error), background sigma of (set - truth) "
             "on the blank sky over the real survey's, its median (sky offset) in the real survey's sigma, high-k "
             "(k >= 0.25, whole stamp) and blank-sky mid-k (0.05-0.25 cycles/px) residual power over the real "
             "survey's noise (1 = the survey's "
             "noise), MSE in model space, and the 3\" NMAD minus the strong baseline's with its paired-bootstrap 68% "
             "interval (docs/evaluation.md).", ""]
    f = lambda v, s: "-" if v is None else format(v, s)  # noqa: E731
    pm = lambda v, e: f(v, "+.3f") + ("" if e is None or v is None else f" ±{e:.3f}")  # noqa: E731
    rows_of: dict[str, dict] = {}
    for name in ["baseline-naive", *names]:
        for d in DIRECTIONS:
            p = out / "eval" / name / d / "metrics.json"
            if p.is_file():
                rows_of[(name, d)] = json.loads(p.read_text())
    for d in DIRECTIONS:
        lines += [f"### {d} ({'SDSS -> CFHT' if d == 'x2y' else 'CFHT -> SDSS'})", "",
                  "| band | set | 3\" bias | 3\" NMAD | 1.5\" bias | 1.5\" NMAD | r50 bias | bkg sigma | bkg offset | HF power | "
                  "mid-k bkg | MSE | 3\" NMAD - strong [68%] | wall (s) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        ref = next((m for (n, dd), m in rows_of.items() if dd == d), None)
        for band in BANDS:
            sets = [("**real noisy** (noise floor)", ref, "real", "-"), ("**strong baseline** + noise", ref, "baseline", "-")]
            sets += [(n, rows_of.get((n, d)), "translation",
                      "failed" if n in res["errors"] else f(res["wall_s"].get(n), ".0f"))
                     for n in ["baseline-naive", *names]]
            for label, m, who, wall in sets:
                h = headline(m, who, band) if m else None
                if h is None:
                    lines.append(f"| {band} | {label} | - | - | - | - | - | - | - | - | - | - | - | {wall if m is None else '-'} |")
                    continue
                vb = h["vs_base3"]
                vs = f"{vb['delta']:+.4f} [{vb['lo']:+.4f}, {vb['hi']:+.4f}]" if vb else "-"
                lines.append(f"| {band} | {label} | {pm(h['bias3'], h['bias3_err'])} | {f(h['nmad3'], '.3f')} | "
                             f"{f(h['bias15'], '+.3f')} | {f(h['nmad15'], '.3f')} | {pm(h['r50'], h['r50_err'])} | "
                             f"{f(h['bg'], '.2f')} | {f(h['bg_offset'], '+.2f')} | {f(h['hf'], '.2f')} | "
                             f"{f(h['midk_bg'], '.2f')} | "
                             f"{f(h['mse'], '.3g')} | {vs} | {wall} |")
        lines.append("")
    lines += ["### Colours vs truth (3\" apertures, mag: median bias ± its standard error / NMAD)", "",
              "| dir | set | u-g | g-r | r-i | i-z |", "|---|---|---|---|---|---|"]
    for d in DIRECTIONS:
        ref = next((m for (n, dd), m in rows_of.items() if dd == d), None)
        sets = [("real noisy", ref, "real"), ("strong baseline + noise", ref, "baseline")]
        sets += [(n, rows_of.get((n, d)), "translation") for n in ["baseline-naive", *names]]
        for label, m, who in sets:
            c = colours(m, who) if m else {}
            cells = [f"{pm(c[p][0], c[p][2])} / {f(c[p][1], '.3f')}" if p in c else "-" for p in ("u-g", "g-r", "r-i", "i-z")]
            lines.append(f"| {d} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def clean_report(out: Path, names: list[str]) -> str:
    """The learnt part without noise draws: each option's ``G(x)`` (``<name>-clean``) against the strong
    pipeline's noise-free output on the same objects, per direction and band (empty if none was scored)."""
    lines = []
    for d in DIRECTIONS:
        rows = []
        for name in names:
            p = out / "eval" / (name + CLEAN) / d / "metrics.json"
            m = json.loads(p.read_text()) if p.is_file() else None
            for band in BANDS if m else ():
                g, b = headline(m, "translation", band), headline(m, "baseline", band)
                if g is None or b is None:
                    continue
                vb = g["vs_base3"] or {}
                rows.append(f"| {band} | {name} | {g['nmad3']:.4f} | {b['nmad3']:.4f} | {vb.get('delta', float('nan')):+.4f} "
                            f"[{vb.get('lo', float('nan')):+.4f}, {vb.get('hi', float('nan')):+.4f}] | "
                            f"{vb.get('p_below', float('nan')):.2f} | {g['bias3']:+.4f} / {b['bias3']:+.4f} | "
                            f"{g['bias15']:+.4f} / {b['bias15']:+.4f} | {g['r50']:+.4f} / {b['r50']:+.4f} |")
        if rows:
            lines += [f"#### {d} ({'SDSS -> CFHT' if d == 'x2y' else 'CFHT -> SDSS'}), no noise on either side", "",
                      "| band | option | 3\" NMAD, G(x) | 3\" NMAD, pipeline | difference [68%] | P(G lower) | "
                      "3\" bias G / pipeline | 1.5\" bias G / pipeline | r50 bias G / pipeline |",
                      "|---|---|---|---|---|---|---|---|---|", *sorted(rows, key=lambda r: BANDS.index(r[2])), ""]
    if not lines:
        return ""
    return ("\n### The learnt part without noise draws\n\nEach option's non-noise part `G(x)` (`translate "
            "--no-noise`) and the strong pipeline without `--add-noise`, scored against the truth on the same "
            "objects: the NMAD difference is the learnt correction's alone (docs/evaluation.md).\n\n"
            + "\n".join(lines))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="science_out")
    p.add_argument("--options", default=",".join(OPTIONS), help=f"comma list of {', '.join(OPTIONS)}")
    p.add_argument("--n-paired", type=int, default=240)
    p.add_argument("--n-unpaired", type=int, default=240)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--iters1", type=int, default=100)
    p.add_argument("--iters2", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=12345, help="simulate.seed (another sample: another seed)")
    p.add_argument("--mag-max", type=float, default=19.0, help="simulate.mag_max (fainter galaxies: 20)")
    p.add_argument("--set", action="append", default=None,
                   help="extra override for every stage (repeatable; default: model.ne_calibrate=true, the demo's "
                        "NE start at the measured sky noise and its power spectrum, which a short budget needs)")
    p.add_argument("--test-n", type=int, default=0,
                   help="also score the trained options on an independent paired-test sample of this many objects "
                        "(simulate.seed + 1, the same magnitude range), under <out>/test<N>")
    p.add_argument("--test-options", default="", help="the options --test-n scores (comma list; default: --options)")
    p.add_argument("--test-realisations", type=int, default=1,
                   help="noise realisations per object on the test sample, pooled by evaluate (evaluate.realisations): "
                        "a single draw decides noise-dominated comparisons by a few tenths of a point")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--docs", default="", help="also write the markdown table here (e.g. /tmp/results_table.md)")
    a = p.parse_args()
    a.set = a.set if a.set is not None else ["model.ne_calibrate=true"]
    a.options = [o for o in a.options.split(",") if o]
    a.test_options = [o for o in a.test_options.split(",") if o] or a.options
    for flag, given in (("--options", a.options), ("--test-options", a.test_options)):
        bad = [o for o in given if o not in OPTIONS]
        if bad:
            p.error(f"{flag}: unknown {bad}; allowed: {', '.join(OPTIONS)}")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    res = Science(a).go()
    out = Path(a.out).resolve()
    cmd = "python benchmarks/science.py " + " ".join(sys.argv[1:])
    md = report(out, res, a.options, cmd)
    if a.test_n:
        test = Science.test_sample(a)
        if not a.report_only:
            test.score_test_sample(a.test_options)
        md += "\n## The independent test sample\n\n" + report(
            test.root, {**res, "wall_s": {}}, a.test_options, cmd,
            f"Scored: {a.test_n} paired-test objects of simulate.seed {a.seed + 1} (r < {a.mag_max}), none seen in "
            f"training, translated by the runs below, {a.test_realisations} noise realisation(s) each, pooled. ")
        md += clean_report(test.root, a.test_options)
    figs = curves(out, a.options)
    (out / "results.md").write_text(md)
    if a.docs:
        Path(a.docs).write_text(md)
    print(md)
    print("curves:", ", ".join(figs))
    if res["errors"]:
        print("errors:", json.dumps({k: v.splitlines()[0] for k, v in res["errors"].items()}, indent=1))
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

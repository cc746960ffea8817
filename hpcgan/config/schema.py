"""Typed configuration schema: one frozen dataclass per section.

Every knob of every stage lives here, with the paper's value as default (see docs/method.md).
Constraints are declared beside each field (``choices`` through ``Literal``, ``min``/``max`` through
``field(metadata=...)``) so the loader can name the key and what is allowed when a value is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from hpcgan.config.variants import VARIANTS

BANDS = ("u", "g", "r", "i", "z")
# the configurable networks' names, the one list: hpcgan/models/registry.py refuses to register others
MODEL_NAMES = {"generator": ("paper", "unet", "resnet6", "residual"), "discriminator": ("paper", "patchgan")}


def rng(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False, allow_inf: bool = False,
        default=None):
    """A dataclass field with a numeric range checked by the loader (nan always refused, inf unless ``allow_inf``)."""
    return field(default=default, metadata={"min": lo, "max": hi, "lo_open": lo_open, "allow_inf": allow_inf})


@dataclass(frozen=True)
class SurveyCfg:
    """One survey (domain): its bands, stamp geometry and flux scaling."""
    name: str = "sdss"
    bands: tuple[str, ...] = BANDS
    stamp_size: int = rng(8, 4096, default=64)
    pixel_scale: float = rng(0.0, None, lo_open=True, default=0.396)  # arcsec / px
    flux_scale: float = rng(0.0, None, lo_open=True, default=1.0)  # multiply raw pixels by this before the pixel transform
    # model units: inputs are converted to them at ingest (hpcgan/io/units.py); translated FITS carry them
    bunit: str = "nanomaggy"
    magzp: float = 22.5  # AB magnitude of one pixel unit: mag = magzp - 2.5 log10(flux)


@dataclass(frozen=True)
class SimulateCfg:
    """The embedded default: a simulated SDSS/CFHT survey pair rendered with GalSim."""
    out: str = "runs/sim"
    n_paired: int = rng(0, None, default=5000)  # paired objects (rendered in both surveys)
    paired_test_fraction: float = rng(0.0, 1.0, default=0.5)  # paper: 2500 test of 5057 paired
    n_unpaired: int = rng(0, None, default=20000)  # unpaired objects per survey
    seed: int = rng(0, None, default=12345)
    neighbour_prob: float = rng(0.0, 1.0, default=0.3)  # probability of a neighbouring galaxy in the stamp
    star_prob: float = rng(0.0, 1.0, default=0.1)  # probability of a star in the stamp
    mag_min: float = 14.0  # r-band magnitude range of the central galaxies
    mag_max: float = 19.0
    noise: bool = True  # False: noise-free stamps (ground truth, tests); SKYSIG still states the survey's noise
    disk_check: bool = True  # refuse to start when OUT's file system has less free space than the stamps to write
    disk_margin: float = rng(0.0, None, default=0.1)  # ... times 1 + this


@dataclass(frozen=True)
class PreprocessCfg:
    """FITS stamps (or survey frames + an object catalog) -> per-rank HDF5 shards."""
    source: Literal["stamps", "frames"] = "stamps"  # frames: cut-outs from preprocess.frames (docs/preprocess.md)
    catalog: str = "runs/sim/catalog.csv"
    frames: str = ""  # source=frames: the frame index CSV (path, survey, band, hdu, ...; docs/formats.md)
    frame_choice: Literal["first", "best"] = "best"  # object in several frames: first in the index, or most covered
    require_units: bool = True  # stamps whose units cannot be determined: quarantined (true) or taken as model units (frames always need units)
    image_hdu: str = ""  # stamps, per_band/cube: the image HDU (number or EXTNAME); '' = by EXTNAME/IMAGETYP
    ivar_hdu: str = ""  # stamps, per_band/cube: the ivar (EXTNAME VAR*: variance) HDU; '' = by EXTNAME/IMAGETYP
    data_root: str = ""  # paths in the catalog are relative to this ('' = catalog's folder)
    out: str = "runs/shards"
    layout: Literal["auto", "mef", "cube", "per_band"] = "auto"
    apply_transform: bool = False  # store physical values; the pixel transform is applied at load time
    nan_fill_max_frac: float = rng(0.0, 1.0, default=0.01)  # NaN/Inf fraction up to which pixels are filled and flagged
    # flagged pixels (coverage gaps, masked, NaN/Inf; the shards' mask): sky-like Gaussian noise at the
    # stamp's clipped sky sigma, seeded per object (noise), or 0 (zero); always flagged in the mask
    fill: Literal["noise", "zero"] = "noise"
    # flagged pixels within this radius (arcsec) of the object quarantine the stamp (0 = no check)
    core_radius_arcsec: float = rng(0.0, None, default=1.0)
    # background: check (quarantine past sky_max_sigma), subtract (and record it: sky_level), none
    sky: Literal["check", "subtract", "none"] = "check"
    sky_max_sigma: float = rng(0.0, None, lo_open=True, default=5.0)  # sky=check: |background| / sky sigma allowed
    quarantine_max_frac: float = rng(0.0, 1.0, default=0.05)  # above this the run exits non-zero
    batch_size: int = rng(1, None, default=256)  # stamps per committed write
    read_timeout_s: float = rng(0.0, None, default=30.0)  # per-file read bound; past it: quarantined (0 = none)
    compression: Literal["none", "gzip", "lzf"] = "none"
    compression_level: int = rng(0, 9, default=1)
    disk_check: bool = True  # refuse to start when OUT's file system has less free space than the shards to write
    disk_margin: float = rng(0.0, None, default=0.1)  # ... times 1 + this
    # input files as people have them (docs/preprocess.md, "Big, compressed and odd inputs")
    max_input_mib: float = rng(0.0, None, lo_open=True, default=2048.0)  # declared (decompressed) data size above which a file is quarantined unread
    section_read_mib: float = rng(0.0, None, default=64.0)  # plain files above this are memory-mapped and cut by section, never read whole
    pixel_limit_mag: float = 10.0  # AB magnitude of the brightest plausible source in a stamp
    pixel_limit_factor: float = rng(0.0, None, default=1000.0)  # |pixel| above this many times that source's flux (model units): quarantined (0 = off)
    wcs_scale_min_arcsec: float = rng(0.0, None, lo_open=True, default=0.01)  # a stamp/frame WCS pixel scale outside [min, max] "/px is refused
    wcs_scale_max_arcsec: float = rng(0.0, None, lo_open=True, default=10.0)
    position_tol_arcsec: float = rng(0.0, None, default=2.0)  # stamps: the catalog (ra, dec) may lie this far outside the stamp's footprint


@dataclass(frozen=True)
class DataCfg:
    """Training data: shards, the four streams, transforms, augmentation."""
    shards: str = "runs/shards"
    x: SurveyCfg = SurveyCfg()
    y: SurveyCfg = SurveyCfg(name="cfht", stamp_size=136, pixel_scale=0.187, flux_scale=0.001, bunit="ADU", magzp=30.0)
    batch_size: int = rng(1, None, default=24)  # per stream, per rank
    augment: bool = True  # D4: rot90 k in 0..3 then {vflip, hflip, none}
    pixel_transform: Literal["sqrt", "none"] = "sqrt"  # sign(I)*(sqrt(|I|+1)-1)
    num_workers: int = rng(0, 64, default=0)
    limit: int = rng(0, None, default=0)  # use at most this many stamps per stream (0 = all)
    # the last this-many stamps of paired-train stay out of the paired training streams: the held-out pairs
    # that train.fit_gain fits on (docs/training.md)
    holdout_pairs: int = rng(0, None, default=0)


@dataclass(frozen=True)
class ModelCfg:
    """Networks. ``width`` multiplies every hidden channel count (1.0 = the paper)."""
    width: float = rng(0.0, 16.0, lo_open=True, default=1.0)
    # residual: the physical baseline (resample + PSF match, in model space) plus a network correction
    # (body ``residual_body``, last conv zero-initialised: it starts at the baseline); docs/models.md
    generator: Literal[MODEL_NAMES["generator"]] = "paper"
    residual_body: Literal["paper", "unet"] = "paper"
    # residual: a learnt D4-symmetric, zero-sum matching kernel (odd size in source pixels; 0 = none)
    # applied before the baseline, and the multiple of train.lr its weights learn at (docs/models.md)
    residual_kernel: int = rng(0, 31, default=0)
    residual_kernel_lr_mult: float = rng(0.0, None, lo_open=True, default=100.0)
    # residual: the base the correction is learnt on: naive (resample + Gaussian PSF match: it carries the
    # source survey's noise) or strong (starlet-denoised, real-PSF matched: the non-noise part, with
    # baseline.denoise_* and baseline.kernel_size / regularization); docs/models.md
    residual_base: Literal["naive", "strong"] = "naive"
    # residual: remove the correction's mean over each stamp's background annulus (per band), so the
    # network cannot invent a sky level (unanchored, 100 iterations left 0.1-0.25 sigma offsets that bias
    # sizes and faint fluxes; docs/models.md)
    residual_zero_sky: bool = False
    # residual: a per-band radial transfer function of this many bins on the base (0 = none), fitted by
    # least squares against the noisy targets of the first residual_filter_stamps training pairs before
    # step 2 trains (hpcgan/train/base_filter.py; docs/models.md)
    residual_filter_bins: int = rng(0, 256, default=0)
    residual_filter_stamps: int = rng(1, None, default=2048)
    out_activation: Literal["lrelu", "linear"] = "lrelu"  # after the last conv of G and A (paper: lrelu)
    discriminator: Literal[MODEL_NAMES["discriminator"]] = "paper"
    disc_band_reduce: Literal["mean", "none"] = "mean"  # average the 5 per-band logits or keep them
    ne_hidden: int = rng(1, None, default=64)  # noise-emulator amplitude MLP width (1-64-64-1)
    ne_kernel_size: int = rng(1, 31, default=7)
    bias_init: float = 0.1
    # initial bias of the NE amplitude MLP's output layer (pre-softplus); null = bias_init (the paper).
    # Short runs (the demo) start nearer the real noise level with e.g. -4 (softplus(-4) = 0.018).
    ne_amp_bias_init: Optional[float] = None
    # beyond the paper: a fresh run that trains noise emulators sets each band's amplitude bias so the
    # initial noise std equals the real stamps' sky sigma (hpcgan/train/ne_calibration.py); overrides
    # ne_amp_bias_init. The paper's init adds noise 3x (CFHT) to 25x (SDSS) off the survey's.
    ne_calibrate: bool = False
    # ... measured on the first this-many stamps of each training stream (whole batches): on the demo,
    # power within 0.97-1.04 of the survey's at 64 stamps, 0.92-1.07 at one batch of 8 (docs/training.md)
    ne_calibrate_stamps: int = rng(1, None, default=64)
    # where the noise emulators add their noise: model (the paper: to the sqrt-compressed image, so in
    # survey units it grows with the signal, sqrt(1 + I) times the sky's) or linear (in survey units, as
    # a sky-limited survey's noise; docs/models.md)
    ne_space: Literal["model", "linear"] = "model"


@dataclass(frozen=True)
class TrainCfg:
    """Two-step training and its variants."""
    variant: Literal[VARIANTS] = "ours"  # the recipes of hpcgan/config/variants.py
    step: int = rng(1, 2, default=1)
    run_dir: str = "runs/train"
    init_from: str = ""  # step 2: step-1 checkpoint (or run dir) whose noise emulators are restored
    iters: int = rng(1, None, default=60000)
    lr: float = rng(0.0, None, lo_open=True, default=1e-4)
    adam_beta1: float = rng(0.0, 1.0, default=0.9)
    adam_beta2: float = rng(0.0, 1.0, default=0.999)
    lr_decay_every: int = rng(1, None, default=20000)
    lr_decay_factor: float = rng(1.0, None, default=5.0)
    clip_norm: float = rng(0.0, None, default=5.0)  # global-norm gradient clipping (0 = off)
    adv_weight: float = rng(0.0, None, default=1.0)  # benchmark models: weight of the adversarial term
    mse_weight: float = rng(0.0, None, default=1000.0)  # benchmark models: weight of the MSE term
    ckpt_every: int = rng(1, None, default=2000)
    log_every: int = rng(1, None, default=100)
    sample_every: int = rng(0, None, default=5000)  # 0 = no sample grids
    keep_checkpoints: int = rng(1, None, default=3)
    # stop (exit 65) after this many consecutive iterations with a non-finite loss or gradient; their
    # optimiser steps are skipped, so an isolated bad batch costs nothing (docs/training.md)
    max_nonfinite_steps: int = rng(1, None, default=5)
    sample_count: int = rng(1, 64, default=4)  # stamps (columns) per sample grid
    stop_signals: tuple[str, ...] = ("SIGTERM", "SIGUSR1")  # checkpoint at the next iteration, then exit
    seed: int = rng(0, None, default=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = False  # bf16 autocast (GPU)
    compile: bool = False  # torch.compile the networks
    channels_last: bool = False
    deterministic: bool = False
    tensorboard: bool = False
    # paired identity loss + flux_loss_weight * relative aperture-flux error (0 = the paper's MSE only)
    flux_loss_weight: float = rng(0.0, None, default=0.0)
    flux_loss_radii_arcsec: tuple[float, ...] = (1.5, 3.0)
    flux_loss_bands: tuple[str, ...] = ()  # bands the flux term scores (names in both surveys; () = all)
    # after the last iteration, a residual generator's learnt part (kernel + correction) gets a per-band
    # gain in [0, 1], least squares on the held-out pairs (data.holdout_pairs) against their noisy targets:
    # where the learnt part does not help, the translation falls back to the physics (docs/training.md)
    fit_gain: bool = False
    # what the gain is fitted on: pixels (model-space least squares) or aperture_flux (relative flux in
    # the flux_loss_radii_arcsec apertures, survey units: keeps the learnt part only where it helps the
    # held-out photometry; docs/training.md)
    fit_gain_on: Literal["pixels", "aperture_flux"] = "pixels"
    # weigh the fitted gain by how well the held-out pairs measure it: a * a^2 / (a^2 + sd^2), sd its
    # standard error over the held-out objects (a gain the pairs' noise could have made falls toward 0)
    fit_gain_shrink: bool = True
    # validation vs the noise-free twins (paired-test-truth) every eval_every iterations (0 = off)
    eval_every: int = rng(0, None, default=0)
    eval_count: int = rng(1, None, default=64)  # held-out paired-test stamps scored


@dataclass(frozen=True)
class KernelsCfg:
    """Implementation of the fixed filters: fused Triton kernels or the plain PyTorch reference."""
    impl: Literal["auto", "triton", "torch"] = "auto"  # auto = Triton on CUDA, torch on CPU


@dataclass(frozen=True)
class DistCfg:
    """Multi-process training."""
    backend: Literal["auto", "horovod", "torch", "none"] = "auto"
    lr_scaling: Literal["none", "linear", "sqrt"] = "none"
    warmup_iters: int = rng(0, None, default=0)
    fp16_compression: bool = False
    backward_passes_per_step: int = rng(1, None, default=1)
    timeout_s: float = rng(1.0, None, default=60.0)  # a dead rank ends the job within this


@dataclass(frozen=True)
class BaselineCfg:
    """The physical baseline (``hpcgan translate --method resample``, docs/translation.md and
    docs/evaluation.md "The strong baseline")."""
    # strong: starlet-denoise the input, match the surveys' real PSF models (Moffat / Kolmogorov at each
    # stamp's seeing) with photutils' Wiener-regularised kernels, resample; naive: resample + Gaussian PSF
    # match (no deconvolution, no denoising), the baseline of earlier results
    pipeline: Literal["strong", "naive"] = "strong"
    denoise: bool = True  # strong: keep the object's starlet footprint, zero the blank sky (hpcgan/astro/denoise.py)
    denoise_scales: int = rng(1, 6, default=4)  # starlet detail planes (widths 1, 2, 4, 8 px)
    denoise_k: float = rng(0.0, None, lo_open=True, default=5.0)  # detection threshold in each plane's sigma
    denoise_grow: int = rng(0, 8, default=1)  # grow plane j's detections by denoise_grow * 2**j px
    # always keep this disc (arcsec) around the catalogue position, detected or not (0 = off): faint
    # galaxies below detection are otherwise set to zero (u band, r < 20: -92% at 0, -2.1% at 3";
    # docs/results.md). 3" = the largest aperture scored.
    denoise_keep_arcsec: float = rng(0.0, None, default=3.0)
    # also keep, in every band, the pixels where the bands' stacked significance exceeds this (0 = off: each
    # band its own footprint): a multi-band footprint. 14 moves SDSS -> CFHT u r50 from -3.0% to -2.1% (r < 19)
    # and -4.5% to +1.3% (r < 20) but raises the faint u 3" NMAD by 5% (docs/evaluation.md)
    denoise_stack_k: float = rng(0.0, None, default=0.0)
    # the footprint's margin (grown around the detections, nothing detected there) keeps the detail planes
    # from this one on: 1 drops the 1-px plane there, the source survey's noise on faint outskirts, which the
    # deconvolution amplified (SDSS -> CFHT 3" NMAD up to 12% lower, r50 closer, blank-sky noise 1.5-3.6x -> 0.3-0.5x
    # CFHT's); 0 keeps every plane (the footprint before 2026-12-07); docs/evaluation.md
    denoise_margin_plane: int = rng(0, 6, default=1)
    # strong: PSF-matching kernel side (odd, px of the grid it runs on). 127 = the whole Wiener kernel: a 63-px
    # crop cut its ringing wings and biased the 3" flux +0.1-0.3% (SDSS -> CFHT) and -0.3% (CFHT -> SDSS)
    kernel_size: int = rng(3, 127, default=127)
    regularization: float = rng(0.0, 1.0, lo_open=True, default=1e-3)  # Wiener term (fraction of peak |OTF|^2)
    # strong, shallow -> deep only (target sharper): shrink each band toward the shared-shape model read from
    # the co-add of all bands (hpcgan/astro/template_photometry.py): sigma (arcsec) of the Gaussian weight that
    # reads each band's amplitude, 0 = off (the pipeline before 2026-12-08). The source noise in a 3" sum is
    # most of the SDSS -> CFHT scatter; docs/evaluation.md ("A shape prior from the co-add") has the numbers
    shape_prior_arcsec: float = rng(0.0, None, default=1.5)
    shape_prior_keep: float = rng(0.0, 1.0, default=0.5)  # the fraction of a band's departure from the model kept
    # per-band exceptions, "band=keep" (a band the source survey lacks has none): u, whose shape differs most
    # from the co-add, keeps more (at 0.5 its 3" flux read -1.3%)
    shape_prior_keep_bands: tuple[str, ...] = ("u=0.75",)
    shape_prior_radius_arcsec: float = rng(0.0, None, lo_open=True, default=3.0)  # co-add weights' aperture; taper
    noise_kernel: int = rng(1, 31, default=7)  # add_noise: side of the kernel made from the measured noise power
    # area: exact area-weighted overlap; bicubic: surface brightness x pixel-area ratio; auto: area when the
    # target pixels are larger, else bicubic (the closer to the truth each way: docs/evaluation.md)
    resample: Literal["auto", "area", "bicubic"] = "auto"
    psf_match: bool = True  # convolve to the broader target PSF (Gaussian in quadrature) when it is broader
    # add the target survey's noise, with its power spectrum measured on the blank corners of its train
    # stamps (hpcgan/astro/noise_power.py; strong) or white at the simulator's sky sigma (naive); seeded per object id
    add_noise: bool = False


@dataclass(frozen=True)
class TranslateCfg:
    """Offline bulk translation of whole survey footprints (``hpcgan translate``, docs/translation.md)."""
    method: Literal["model", "resample"] = "model"  # a trained checkpoint, or the physical baseline (baseline.*)
    checkpoint: str = "runs/train/ours-step2"  # step-2 or single-step-variant checkpoint file, or its run dir
    direction: Literal["x2y", "y2x"] = "x2y"
    shards: str = ""  # input shard root ('' = data.shards)
    split: Literal["unpaired", "paired-train", "paired-test"] = "paired-test"
    out: str = "runs/translate"
    batch_size: int = rng(1, None, default=256)  # stamps per forward pass and per committed write
    n_realisations: int = rng(1, 1000, default=1)  # noise draws per stamp: G(x) + NE(fresh z)
    # model: dress G(x) in the target survey's noise (the noise emulator). false: the non-noise part G(x)
    # alone, the model's estimate of the noise-free sky (photometry; scoring the learnt part against
    # --method resample without --add-noise, where no noise draw blurs the comparison; docs/translation.md)
    noise: bool = True
    seed: int = rng(0, None, default=0)  # noise of (object_id, realisation) is seeded from this
    device: Literal["auto", "cpu", "cuda"] = "auto"
    fits: bool = False  # also one multi-extension FITS file per object and realisation
    bunit: str = ""  # target pixel unit for FITS ('' = the target survey's data.<side>.bunit)
    magzp: Optional[float] = None  # target AB zero point (null = the target survey's data.<side>.magzp)
    limit: int = rng(0, None, default=0)  # translate at most this many stamps (0 = all)
    compression: Literal["none", "gzip", "lzf"] = "none"  # of the output shards' images (as preprocess.compression)
    compression_level: int = rng(0, 9, default=1)  # gzip level
    disk_check: bool = True  # refuse to start when OUT's file system has less free space than the output to write
    disk_margin: float = rng(0.0, None, default=0.1)  # ... times 1 + this


@dataclass(frozen=True)
class EvaluateCfg:
    """Metrics of a translation against the truth and the real counterparts (``hpcgan evaluate``, docs/evaluation.md)."""
    translations: str = "runs/translate"  # a translate.out folder (its manifest names input, split, direction)
    baseline: str = ""  # a second translate.out folder (e.g. --method resample) scored the same way ('' = none)
    realisation: int = rng(0, None, default=0)  # which noise realisation to score (the first, with realisations > 1)
    # pool this many realisations from `realisation` on: every object is scored once per realisation (the
    # baseline's realisation of the same number), statistics over all, bootstrap intervals and standard
    # errors over objects, so one noise draw no longer decides a noise-dominated comparison
    realisations: int = rng(1, 1000, default=1)
    shards: str = ""  # real counterparts' shard root ('' = the translation's input root)
    catalog: str = ""  # simulated truth (catalog.csv with flux_<band>); '' = preprocess.catalog if it exists
    out: str = "runs/eval"
    radius_step_arcsec: float = rng(0.0, None, lo_open=True, default=0.25)  # curve-of-growth sampling
    aperture_radii_arcsec: tuple[float, ...] = (1.5, 3.0)  # fixed-aperture photometry radii
    hf_min: float = rng(0.0, 0.5, lo_open=True, default=0.25)  # high-frequency band: |k| in [hf_min, 0.5] cycles/px
    midk_min: float = rng(0.0, 0.5, default=0.05)  # mid-k band of the residual power: [midk_min, midk_max] cycles/px
    midk_max: float = rng(0.0, 0.5, lo_open=True, default=0.25)
    # the blank sky, where (set - truth) is scored as noise (background sigma, offset, background mid-k power):
    # farther than blank_sky_away_arcsec from every pixel where the noise-free truth exceeds blank_sky_k x
    # the survey's sky sigma (neighbours' and the galaxy's faint wings are light, not noise; docs/evaluation.md)
    blank_sky_k: float = rng(0.0, None, lo_open=True, default=0.01)
    blank_sky_away_arcsec: float = rng(0.0, None, default=2.0)
    grid_count: int = rng(1, 64, default=8)  # stamps in the RGB grid
    batch_size: int = rng(1, None, default=256)  # stamps read at a time
    limit: int = rng(0, None, default=0)  # score at most this many objects (0 = all)


@dataclass(frozen=True)
class MatchSideCfg:
    """One survey's catalog for ``hpcgan match`` (CSV or FITS table) and its column names."""
    catalog: str = ""
    id: str = "object_id"
    ra: str = "ra"  # degrees
    dec: str = "dec"
    path: str = ""  # column of stamp paths copied to the output ('' = none: for preprocess.source=frames)


@dataclass(frozen=True)
class MatchCfg:
    """``hpcgan match``: pair data.x's and data.y's catalogs by position into the catalog preprocess reads."""
    x: MatchSideCfg = MatchSideCfg()
    y: MatchSideCfg = MatchSideCfg()
    max_sep_arcsec: float = rng(0.0, None, lo_open=True, default=1.0)
    paired_test_fraction: float = rng(0.0, 1.0, default=0.5)  # of the pairs; the rest paired-train
    seed: int = rng(0, None, default=12345)
    out: str = "runs/match"  # OUT/catalog.csv, OUT/match.json


@dataclass(frozen=True)
class Config:
    """The whole configuration of a run."""
    simulate: SimulateCfg = SimulateCfg()
    preprocess: PreprocessCfg = PreprocessCfg()
    data: DataCfg = DataCfg()
    model: ModelCfg = ModelCfg()
    train: TrainCfg = TrainCfg()
    kernels: KernelsCfg = KernelsCfg()
    dist: DistCfg = DistCfg()
    translate: TranslateCfg = TranslateCfg()
    baseline: BaselineCfg = BaselineCfg()
    evaluate: EvaluateCfg = EvaluateCfg()
    match: MatchCfg = MatchCfg()

"""The training loop (one process or one rank of many), for every step and variant.

    run_dir = train(cfg)                  # Python API; returns the run dir
    result = run(cfg, streams=..., ...)   # the same, returning iteration and interruption

Order: distributed layer (``hpcgan.dist.init(cfg.dist)``; ``d.shutdown()`` when the run returns),
device and kernel implementation (``kernels.impl``, chosen once here), seeding, the networks
(:func:`hpcgan.models.build_models` from the model section), phase (optimisers), run dir, then either resume from the latest
checkpoint of the run dir or (step 2) restore the noise emulators from ``train.init_from`` or (a fresh
run with ``model.ne_calibrate``) start them at the sky noise (:mod:`hpcgan.train.ne_calibration`);
broadcast the weights; loop. Each iteration: batch (the streams are a pure function of seed, rank and
iteration), ``phase.iteration = it``, ``phase.train_step``, LR schedule; then metrics every
``log_every``, validation vs truth every ``eval_every`` (rank 0, :mod:`hpcgan.train.validate`; also
before the first iteration), a sample grid every ``sample_every``, a checkpoint every ``ckpt_every`` and at the end,
and on a stop signal (``train.stop_signals``: checkpoint, then return ``interrupted``). Non-finite
losses or gradients: :mod:`hpcgan.train.guard` (steps skipped, stop after ``train.max_nonfinite_steps``,
no checkpoint with nan/inf).
The training noise is keyed by (seed, iteration, draw, global sample index) (:mod:`hpcgan.train.noise`),
so it depends neither on the RNG state nor on the number of ranks.

Run dir: ``--run-dir`` or ``{train.run_dir}/{label}``, label ``{variant}-step{1,2}`` for the two-step
variants and ``{variant}`` for the single-step ones: config.yaml, metrics.jsonl, samples/,
checkpoints/ (see :mod:`hpcgan.io.checkpoint`).
"""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import hpcgan.dist
from hpcgan.config.errors import ConfigError
from hpcgan.config.geometry import check_networks
from hpcgan.config.integrity import Part, ignored_knobs, knobs, no_effect, resolve_auto
from hpcgan.config.loader import dump_config, save_config
from hpcgan.config.schema import Config, DataCfg, TrainCfg
from hpcgan.io import checkpoint as ckpt
from hpcgan.kernels.dispatch import impl_for
from hpcgan.log import get_logger, progress
from hpcgan.models import Net, build_models, model_knobs
from hpcgan.models.factory import net_name
from hpcgan.train.base_filter import filtered_generators, fit_base_filters
from hpcgan.train.gain import GENERATORS, fit_gains
from hpcgan.train.guard import NonFiniteGuard
from hpcgan.train.metrics import MeanAccumulator, MetricsWriter
from hpcgan.train.ne_calibration import calibrate_noise_emulators, first_stamps
from hpcgan.train.phase import Phase
from hpcgan.train.samples import save_grid
from hpcgan.train.step1 import NoisePhase
from hpcgan.train.step2 import RECIPES, TranslationPhase
from hpcgan.train.validate import Validator
from hpcgan.utils.seeding import seed_everything

log = get_logger(__name__)


@dataclass
class TrainResult:
    run_dir: Path
    iteration: int
    interrupted: bool
    stop_signal: str | None = None  # the signal that stopped it (SIGTERM, SIGUSR1, ...; None: another rank's)


def label(cfg: Config) -> str:
    r = RECIPES[cfg.train.variant]
    return cfg.train.variant if r.single_step else f"{cfg.train.variant}-step{cfg.train.step}"


def default_run_dir(cfg: Config) -> Path:
    return Path(cfg.train.run_dir) / label(cfg)


def check_train_config(cfg: Config) -> None:
    """The networks' rules on the surveys (the loader checks them too; a config built in code, by
    ``dataclasses.replace``, has not been through it)."""
    check_networks(cfg)
    if cfg.train.fit_gain and (cfg.model.generator != "residual" or not cfg.data.holdout_pairs):
        raise ConfigError(f"train.fit_gain: needs model.generator: residual (is {cfg.model.generator!r}) and "
                          f"data.holdout_pairs > 0 (is {cfg.data.holdout_pairs}): the pairs it fits on")


def phase_class(train: TrainCfg) -> type[NoisePhase] | type[TranslationPhase]:
    """Step 1 of a two-step variant trains the noise emulators; the rest translate."""
    return NoisePhase if train.step == 1 and not RECIPES[train.variant].single_step else TranslationPhase


def networks(train: TrainCfg, data: DataCfg) -> dict[str, Net]:
    """The networks the phase of ``train`` builds (:meth:`hpcgan.train.phase.Phase.networks`)."""
    return phase_class(train).networks(RECIPES[train.variant], data)


def build_phase(cfg: Config, device: torch.device, d: Any, nets: dict[str, torch.nn.Module] | None = None) -> Phase:
    """The phase of ``cfg`` with ``nets`` (None: built here, kernels ``cfg.kernels.impl`` for ``device``)."""
    if nets is None:
        nets = build_models(cfg.model, networks(cfg.train, cfg.data), cfg.data,
                            impl_for(cfg.kernels.impl, device.type), cfg.baseline)
    cls = phase_class(cfg.train)
    return NoisePhase(cfg, device, d, nets) if cls is NoisePhase else TranslationPhase(cfg, device, d, nets)


SECTIONS = ("data", "model", "train", "dist", "kernels")  # the sections the trainer unpacks


def sections(cfg: Config) -> tuple[str, list[Part]]:
    """What training takes of ``cfg`` for its step and variant (:func:`hpcgan.config.integrity.no_effect`):
    :data:`SECTIONS`, of ``model`` the knobs the networks it builds read (:data:`hpcgan.models.factory.READS`),
    of ``train`` and ``dist`` the parts its recipe and backend use."""
    r, nets = RECIPES[cfg.train.variant], networks(cfg.train, cfg.data)
    read = model_knobs(cfg.model, nets)
    ne = any(n.kind == "noise_emulator" for n in nets.values())
    gen = phase_class(cfg.train) is TranslationPhase
    step2 = gen and not r.single_step  # restores step 1's noise emulators
    builds = ", ".join(dict.fromkeys(f"{n.kind}/{net_name(cfg.model, n)}" for n in nets.values()))
    model = {k: Part((k,), k in read, f"the networks built here ({builds}) do not read it") for k in knobs("model")}
    for k in ("model.ne_calibrate", "model.ne_calibrate_stamps"):  # act on NEs this run trains
        model[k] = Part((k,), ne and not (step2 and r.noise == "frozen"),
                        "step 2 restores the noise emulators" if ne else "no noise emulator is built")
    if not cfg.model.ne_calibrate:
        model["model.ne_calibrate_stamps"] = Part(("model.ne_calibrate_stamps",), False, "only model.ne_calibrate=true")
    if cfg.model.ne_calibrate and ne:
        model["model.ne_amp_bias_init"] = Part(("model.ne_amp_bias_init",), False, "model.ne_calibrate sets the amplitude bias")
    backend = cfg.dist.backend
    return f"step{cfg.train.step} of variant {cfg.train.variant}", [
        Part(SECTIONS), *model.values(),
        Part(("train.adv_weight", "train.mse_weight"), gen and r.adversarial, "only the benchmark models"),
        Part(("train.flux_loss_weight",), gen and r.identity, "only the paired identity loss"),
        Part(("train.flux_loss_bands",), gen and r.identity and bool(cfg.train.flux_loss_weight),
             "only the flux term (train.flux_loss_weight > 0)"),
        Part(("train.flux_loss_radii_arcsec",), gen and (r.identity and bool(cfg.train.flux_loss_weight) or (
            cfg.train.fit_gain and cfg.train.fit_gain_on == "aperture_flux")),
             "only the flux term (train.flux_loss_weight > 0) and train.fit_gain_on: aperture_flux"),
        Part(("train.init_from",), step2 and r.noise == "frozen", "only step 2 restores noise emulators"),
        Part(("train.fit_gain", "train.fit_gain_on", "train.fit_gain_shrink"), gen, "only generators"),
        Part(("data.holdout_pairs",), gen and r.identity, "only the paired streams"),
        Part(("dist.backward_passes_per_step",), backend == "horovod", f"only horovod ({backend} here)"),
        Part(("dist.fp16_compression",), backend != "none", "one process: no gradient exchange"),
        Part(("train.amp",), cfg.train.device != "cpu", "bf16 autocast runs on CUDA only"),
    ]


def find_init_from(cfg: Config) -> Path:
    """Step 2's step-1 checkpoint: ``train.init_from`` (file or run dir), else the default step-1 run dir."""
    if cfg.train.init_from:
        return ckpt.resolve(cfg.train.init_from)
    tried = []
    for v in (cfg.train.variant, "ours"):
        p = Path(cfg.train.run_dir) / f"{v}-step1"
        tried.append(str(p))
        if ckpt.latest(p) is not None:
            return ckpt.latest(p)
    raise ckpt.CheckpointError("train.init_from: step 2 needs the noise emulators of a step-1 run; none given "
                               f"and no checkpoint under {' or '.join(tried)}")


class StopFlag:
    """Sets a flag on the configured signals (main thread only); restores the old handlers on close."""

    def __init__(self, names: tuple[str, ...]):
        self.hit: str | None = None
        self.old: dict[int, Any] = {}
        for n in names:
            sig = getattr(signal, n, None)
            if sig is None:
                continue
            try:
                self.old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum, frame) -> None:
        self.hit = signal.Signals(signum).name

    def requested(self, d) -> bool:
        flag = self.hit is not None
        if d.size > 1:
            flag = bool(d.allreduce_mean(torch.tensor([float(flag)])).item() > 0)
        return flag

    def close(self) -> None:
        for sig, h in self.old.items():
            signal.signal(sig, h)


def run(cfg: Config, run_dir: str | Path | None = None, streams: Any = None, dry_run: bool = False) -> TrainResult:
    """Train ``cfg`` (see module docstring). ``streams``: an object with ``iterate(start_iter)``
    (default: :func:`hpcgan.data.streams.build_train_streams` on ``data.shards``)."""
    check_train_config(cfg)
    d = hpcgan.dist.init(cfg.dist, device=cfg.train.device)  # the whole DistCfg: fp16_compression etc.
    ok = False
    try:
        device = d.device(cfg.train.device)  # auto resolved once, saved in config.yaml and the checkpoints
        impl = impl_for(cfg.kernels.impl, device.type)  # the kernels of this process, chosen once
        cfg = resolve_auto(cfg, {"dist.backend": d.backend, "train.device": device.type, "kernels.impl": impl})
        if d.is_main:
            for line in no_effect(cfg, *sections(cfg)):
                log.warning("%s", line)
        seed_everything(cfg.train.seed, cfg.train.deterministic)  # fixes the networks' initial weights
        nets = build_models(cfg.model, networks(cfg.train, cfg.data), cfg.data, impl, cfg.baseline)
        res = _run(cfg, d, device, nets, run_dir, streams, dry_run)
        ok = True
        return res
    finally:
        # Only after a run that returned on every rank: a rank that raises must not wait in a
        # shutdown barrier for peers still training (the failure handlers abort the job instead,
        # hpcgan.dist.failure); the torch backend's atexit hook tears down a group left behind.
        if ok:
            d.shutdown()


def _lock_run_dir(run_dir: Path, name: str, d: Any) -> None:
    """Rank 0 takes the run dir's advisory lock (hpcgan/utils/lock.py); if another run holds it, every
    rank raises :class:`~hpcgan.utils.lock.LockHeld` (one line, exit 2) before anything is written."""
    from hpcgan.utils.lock import LockHeld, acquire

    msg = None
    if d.is_main:
        try:
            acquire(run_dir, f"train {name}")
        except LockHeld as e:
            msg = str(e)
    msg = d.broadcast_object(msg)
    if msg:
        raise LockHeld(msg)


def _run(cfg: Config, d: Any, device: torch.device, nets: dict[str, torch.nn.Module], run_dir: str | Path | None,
         streams: Any, dry_run: bool) -> TrainResult:
    tc = cfg.train
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(cfg)
    phase = build_phase(cfg, device, d, nets)
    name = label(cfg)
    counts = phase.param_counts()
    if dry_run:
        print(dump_config(cfg), end="")
        print(f"# phase {name} on {device}; run dir {run_dir}; streams {list(phase.streams)}; "
              f"optimisers {list(phase.units)}; frozen {sorted(phase.frozen)}")
        for k, n in counts.items():
            print(f"# {k}: {type(phase.nets[k]).__name__} {n:,} parameters")
        return TrainResult(run_dir, 0, False)
    log.info("phase %s on %s, run dir %s; parameters %s", name, device, run_dir,
             ", ".join(f"{k} {n:,}" for k, n in counts.items()))
    config_yaml = dump_config(cfg)
    _lock_run_dir(run_dir, name, d)
    start = 0
    found = ckpt.latest(run_dir)
    if found is not None:
        state = ckpt.load(found)
        if state.get("phase") != name:
            raise ckpt.CheckpointError(f"checkpoint {found}: cannot resume: it is of phase {state.get('phase')!r}, "
                                       f"this run is {name!r} (use another run dir)")
        for key, old, new in ckpt.check_config(state, cfg, found, ignored_knobs(sections(cfg)[1])):
            if d.is_main:
                log.info("resume: %s changed: checkpoint %r, now %r (applied)", key, old, new)
        try:  # a hand-made checkpoint: one CheckpointError line, not a traceback
            phase.load_state_dict(state)
            if d.rank == 0:
                ckpt.set_rng_state(state["rng"])
        except (KeyError, RuntimeError, TypeError, ValueError) as e:
            raise ckpt.CheckpointError(f"checkpoint {found}: cannot resume: its state does not fit this run: "
                                       f"{' '.join(str(e).split())[:300]}") from None
        start = int(state["iteration"])
        log.info("resumed from %s at iteration %d", found, start)
    elif isinstance(phase, TranslationPhase) and phase.recipe.noise == "frozen":
        src = find_init_from(cfg)
        state = ckpt.load(src)
        if not str(state.get("phase", "")).endswith("-step1"):
            raise ckpt.CheckpointError(f"train.init_from {src}: phase {state.get('phase')!r} is not a step-1 run")
        try:
            phase.restore_noise_emulators(state["nets"])
        except (RuntimeError, KeyError) as e:
            raise ckpt.CheckpointError(f"train.init_from {src}: noise emulators do not fit this model config "
                                       f"(model.width / ne_hidden / ne_kernel_size?): {e}") from None
        log.info("noise emulators restored (frozen) from %s", src)
    calibrate_ne = found is None and cfg.model.ne_calibrate and not (
        isinstance(phase, TranslationPhase) and phase.recipe.noise == "frozen")
    for m in phase.nets.values():
        d.broadcast_module(m)
    if d.rank > 0:  # per rank, reproducible (the training noise does not use it: hpcgan.train.noise)
        seed_everything(tc.seed + 100_003 * d.rank + start, tc.deterministic)
    if streams is None:
        from hpcgan.data.streams import build_train_streams
        streams = build_train_streams(cfg.data, rank=d.rank, size=d.size, seed=tc.seed, streams=phase.streams,
                                      allreduce_min=d.allreduce_min_int)
    if calibrate_ne:  # a fresh run: rank 0 measures its first batches, every rank gets the result
        first = first_stamps(streams.iterate(0), cfg.model.ne_calibrate_stamps, cfg.data.batch_size) if d.rank == 0 else None
        for k in calibrate_noise_emulators(phase.nets, first, cfg.data):
            d.broadcast_module(phase.nets[k])
    if found is None and filtered_generators(phase.nets):  # model.residual_filter_bins: fitted once, fresh
        if d.rank == 0:
            fit_base_filters(phase.nets, cfg)
        for k in filtered_generators(phase.nets):
            d.broadcast_module(phase.nets[k])
    if d.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir)
    writer = MetricsWriter(run_dir, d.is_main, tc.tensorboard)
    if d.is_main and start > 0:
        writer.truncate_after(start)  # lines logged after the checkpoint by a run that then died
    acc, stop = MeanAccumulator(), StopFlag(tc.stop_signals)
    validator = Validator.from_config(cfg) if d.is_main and tc.eval_every else None
    if validator is not None and start == 0:
        writer.write(0, validator(phase))  # the initial score
    guard = NonFiniteGuard(tc.max_nonfinite_steps, d, run_dir)
    bar = progress(None, tc.iters, name, d.rank, initial=start)  # rank 0 on a TTY; else log lines
    it, saved_at, interrupted = start, (start if found is not None else -1), False

    def save(i: int) -> None:
        nonlocal saved_at
        guard.check_state(i, phase.state_dict())  # every rank (identical weights): never save nan/inf
        if d.is_main:
            ckpt.save(ckpt.ckpt_path(run_dir, i), ckpt.make_state(i, name, cfg, phase.state_dict(), config_yaml))
            ckpt.prune(run_dir, tc.keep_checkpoints)
        d.barrier()
        saved_at = i

    try:
        data = streams.iterate(start)
        t_last, it_last = time.perf_counter(), it
        while it < tc.iters:
            batch = phase.to_device(next(data))
            phase.iteration = it  # keys this iteration's noise
            vals = phase.train_step(batch)
            phase.sched_step()
            it += 1
            guard.check(it, vals)  # non-finite steps were skipped; stops after train.max_nonfinite_steps
            acc.add(vals)
            if it % tc.log_every == 0 or it == tc.iters:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                now = time.perf_counter()
                m = acc.means(d)
                rate = (it - it_last) / max(now - t_last, 1e-9)
                m.update({"lr": phase.lr(), "it_per_s": rate, "images_per_s": rate * phase.images_per_iter() * d.size})
                writer.write(it, m)
                bar.update(it - bar.n)
                if not bar.disable:
                    bar.set_postfix_str(" ".join(f"{k.split('/')[-1]}={v:.3g}" for k, v in m.items()
                                                 if k.startswith("loss/")))
                else:
                    log.info("iter %d/%d %s", it, tc.iters, " ".join(f"{k}={v:.4g}" for k, v in m.items()))
                t_last, it_last = now, it
            if validator is not None and it % tc.eval_every == 0:
                writer.write(it, validator(phase))
            if d.is_main and tc.sample_every and it % tc.sample_every == 0:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    save_grid(run_dir / "samples" / f"iter-{it:07d}.png", phase.sample_rows(batch), tc.sample_count)
            if it % tc.ckpt_every == 0:
                save(it)
            if stop.requested(d):
                interrupted = True
                log.warning("stop signal %s: checkpoint at iteration %d, exiting", stop.hit, it)
                break
        if not interrupted and tc.fit_gain and isinstance(phase, TranslationPhase):  # train.fit_gain
            fitted = {k: phase.nets[k].gain.clone() for k in GENERATORS if hasattr(phase.nets.get(k), "gain")}
            gains = fit_gains(phase.nets, cfg) if d.is_main else {}
            for k in GENERATORS:
                if k in phase.nets:
                    d.broadcast_module(phase.nets[k])
            writer.write(it, gains)
            # the final checkpoint carries the gains; a finished run called again (the fit is deterministic)
            # keeps its checkpoint as it is, so what translated from it stays current
            if start < it or any(not torch.equal(v, phase.nets[k].gain) for k, v in fitted.items()):
                saved_at = -1
        if saved_at != it:
            save(it)
    finally:
        stop.close()
        writer.close()
        bar.close()
    return TrainResult(run_dir, it, interrupted, stop.hit if interrupted else None)


def train(cfg: Config, run_dir: str | Path | None = None, streams: Any = None) -> Path:
    """Python API: train ``cfg`` and return the run dir."""
    return run(cfg, run_dir, streams).run_dir

"""Two-step training (docs/method.md) and its variants: ``train(cfg) -> run_dir``; CLI ``hpcgan train``.

Modules: losses, optim (Adam units through ``d.step``), step1 (NoisePhase), step2 (TranslationPhase
and the variant recipes), metrics, samples, trainer (the loop), cli; the checkpoint format is
:mod:`hpcgan.io.checkpoint` (translate reads it too).
"""
from hpcgan.train.trainer import TrainResult, run, train

__all__ = ["TrainResult", "run", "train"]

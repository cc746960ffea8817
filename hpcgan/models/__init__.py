"""The networks of the method (docs/method.md), one file each, built from the model section by
:func:`build_models` (the one factory, :mod:`hpcgan.models.factory`; :func:`build` builds one).

Kinds and names: ``autoencoder/paper``, ``noise_emulator/paper``, ``generator/{paper,unet,resnet6,residual}``
(``direction='xy'`` 64 -> 136 or ``'yx'`` 136 -> 64 by default; sizes and bands from ``data``,
:mod:`hpcgan.config.geometry`), ``discriminator/{paper,patchgan}`` (``bands=`` the survey's count).
See docs/models.md for layer lists, output shapes and parameter counts.
"""
from hpcgan.models import autoencoder, discriminator, generator, noise_emulator, patchgan, residual, resnet, unet  # noqa: F401  (registration)
from hpcgan.models.autoencoder import Autoencoder
from hpcgan.models.discriminator import Discriminator
from hpcgan.models.factory import Net, build, build_models, model_knobs
from hpcgan.models.generator import GeneratorXY, GeneratorYX
from hpcgan.models.layers import count_params
from hpcgan.models.noise_emulator import NoiseEmulator
from hpcgan.models.patchgan import PatchGAN
from hpcgan.models.registry import REG, known, register
from hpcgan.models.resnet import ResnetGenerator
from hpcgan.models.unet import UNetGenerator

__all__ = ["Autoencoder", "Discriminator", "GeneratorXY", "GeneratorYX", "Net", "NoiseEmulator", "PatchGAN",
           "ResnetGenerator", "UNetGenerator", "REG", "build", "build_models", "known", "model_knobs", "register",
           "count_params"]

"""Training noise keyed by *global sample index*: the same draws whatever the number of ranks.

Every random input of an iteration (the noise emulators' ``z1``/``z2``) is a pure function of
``(train.seed, iteration, tag, global sample index)``: sample ``i`` of rank ``r``'s batch of ``B`` has
global index ``r * B + i``, and its values come from a generator seeded by a hash of that key alone.
One process on the concatenated batch of ``W`` ranks (batch ``W * B``) therefore draws exactly the
union of what the ``W`` ranks draw, the RNG state plays no part in training (exact resume needs no
RNG restore), and a sample's noise does not depend on ``B`` either. ``tag`` names the draw within an
iteration (``"d/ne_x"``, ``"cycle/ne_y"``...): two draws of one iteration must use distinct tags.

Cost: one generator re-seed and one ``normal_`` per sample and call (``B`` small launches on CUDA,
whose Philox arguments are captured at launch, so one generator per device is re-seeded in turn).
The values differ between CPU and CUDA (different generators), not between rank layouts.
"""
from __future__ import annotations

import hashlib
import math
from typing import Sequence

import torch

_GENERATORS: dict[torch.device, torch.Generator] = {}


def sample_seed(seed: int, iteration: int, tag: str, index: int) -> int:
    """63-bit seed of one sample's draw (blake2b of the key: no structure shared between keys)."""
    h = hashlib.blake2b(f"{int(seed)}/{int(iteration)}/{tag}/{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def _generator(device: torch.device) -> torch.Generator:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    g = _GENERATORS.get(device)
    if g is None:
        g = _GENERATORS[device] = torch.Generator(device=device)
    return g


def keyed_normal(shapes: Sequence[Sequence[int]], n: int, start: int, seed: int, iteration: int, tag: str,
                 device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """Standard normal float32 tensors ``(n, *shape)`` for each of ``shapes``; row ``i`` belongs to the
    sample of global index ``start + i`` and depends only on ``(seed, iteration, tag, start + i)`` and
    ``shapes`` (all of one sample's values come from one draw of its own generator)."""
    sizes = [math.prod(s) for s in shapes]
    buf = torch.empty(n, sum(sizes), device=device, dtype=torch.float32)
    g = _generator(buf.device)
    for i in range(n):
        g.manual_seed(sample_seed(seed, iteration, tag, start + i))
        buf[i].normal_(generator=g)
    return [part.reshape(n, *s) for part, s in zip(buf.split(sizes, dim=1), shapes)]


def ne_inputs(ne: torch.nn.Module, base: torch.Tensor, seed: int, iteration: int, tag: str,
              start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z1, z2)`` for ``ne(base, z1, z2)`` (:class:`hpcgan.models.noise_emulator.NoiseEmulator`),
    keyed by the global indices ``start .. start + len(base) - 1``."""
    z1_shape, z2_shape = ne.z_shapes(base)
    z1, z2 = keyed_normal([z1_shape, z2_shape], len(base), start, seed, iteration, tag, base.device)
    return z1, z2.contiguous()

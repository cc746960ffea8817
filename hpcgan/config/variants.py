"""The variant recipes: the one list of training variants (``train.variant``; the schema's choices
come from :data:`RECIPES`). What each flag means in the training code: hpcgan/train/step2.py."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    cycle: bool = True
    identity: bool = True
    noise: str = "frozen"  # frozen (restored from step 1) | trained (auto) | none
    adversarial: bool = False  # benchmark models: GAN loss on the generators
    single_step: bool = False

    def steps(self) -> tuple[int, ...]:
        """The values of ``train.step`` this variant has: (1,) single-step, (2,) without noise emulators, else (1, 2)."""
        if self.single_step:
            return (1,)
        return (2,) if self.noise == "none" else (1, 2)


RECIPES = {
    "ours": Recipe(),
    "unpaired_only": Recipe(identity=False),
    "paired_only": Recipe(cycle=False),
    "no_noise": Recipe(noise="none"),
    "auto": Recipe(noise="trained", single_step=True),
    "pix2pix": Recipe(cycle=False, noise="none", adversarial=True, single_step=True),
    "cyclegan": Recipe(identity=False, noise="none", adversarial=True, single_step=True),
}
VARIANTS = tuple(RECIPES)

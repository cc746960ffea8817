"""hpcgan: SDSS <-> CFHT galaxy image translation with a semi-supervised noise-reconstructing GAN."""
from setuptools import find_packages, setup

setup(
    name="hpcgan",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.10",
    packages=find_packages(include=["hpcgan", "hpcgan.*", "preprocess", "preprocess.*"]),
    install_requires=[
        "torch>=2.4",  # env/setup.sh pins 2.13.0 here; GPU machines keep the torch they have
        "numpy>=1.24",
        "h5py>=3.8",
        "astropy>=5.3",
        "galsim>=2.5",
        "mpi4py>=3.1",
        "PyYAML>=6.0",
        "submitit>=1.5",
        "Pillow>=9.0",
        "matplotlib>=3.7",  # figures (Agg)
        "scipy>=1.10",  # statistics (KS), ndimage
        "photutils>=1.9",  # aperture photometry
        "reproject>=0.13",  # flux-conserving resampling onto a target WCS
        "tqdm>=4.60",  # progress bars (rank 0, TTY only)
    ],
    extras_require={
        "dev": ["pytest>=7", "pytest-timeout>=2.1", "triton>=3.0", "ruff>=0.4"],
        "triton": ["triton>=3.0"],
    },
    entry_points={"console_scripts": ["hpcgan=hpcgan.cli:main"]},
)

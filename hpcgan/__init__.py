"""hpcgan: semi-supervised noise-reconstructing GAN for SDSS <-> CFHT galaxy image translation."""
__version__ = "0.1.0"

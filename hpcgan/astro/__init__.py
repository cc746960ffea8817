"""The field's building blocks, below every stage: survey table, PSF models and matching kernels,
starlet denoising, noise power spectra and sky sigma, aperture photometry and robust ratio statistics
(``photometry``), the pixel transform to model space and D4 augmentation (``transforms``).
numpy / astropy / photutils / galsim / torch only; nothing here imports a stage (docs/architecture.md)."""

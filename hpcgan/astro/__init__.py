"""The field's building blocks, below every stage: survey table, PSF models and matching kernels,
starlet denoising, noise power spectra. numpy / astropy / photutils / galsim / torch only; nothing here
imports a stage (docs/architecture.md)."""

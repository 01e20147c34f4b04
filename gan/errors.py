"""The GAN library's exceptions; every one derives from GanError."""


class GanError(Exception):
    """Root of every error this library raises on purpose."""


class TrainingError(GanError):
    """Training cannot start or go on (too few images, out of memory, a broken checkpoint)."""


class CheckpointError(GanError):
    """A checkpoint or model file is missing, incomplete or does not match what was asked."""

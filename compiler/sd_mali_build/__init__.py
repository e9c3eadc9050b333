"""sd-mali's compile flow: Stable Diffusion 1.x checkpoints into TVM model directories."""

__version__ = "0.1.0"
FORMAT_VERSION = 1

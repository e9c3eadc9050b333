"""SD 1.x's networks in TVM Relax's `relax.frontend.nn`, with diffusers' parameter names."""

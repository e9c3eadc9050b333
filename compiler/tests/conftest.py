"""Shared builds of the tiny golden model (built once per test session)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from sd_mali_build.build import BuildOptions, build  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SD_MALI_TEST_DATA", os.path.join(HERE, "..", "..", "..", "shared"))
TINY = os.path.join(SHARED, "golden-compile", "tiny-sd-a")
REFS = os.path.join(TINY, "references")
IN_CI = os.environ.get("CI") == "true"


def need_tiny() -> None:
    if not os.path.isdir(TINY):
        message = f"{TINY} is missing (../shared/golden-compile)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def ref(name: str) -> np.ndarray:
    return np.load(os.path.join(REFS, name))


def cases() -> dict[str, Any]:
    with open(os.path.join(REFS, "cases.json"), encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """`built(source='file'|'folder', dtype=..., target=...)` -> a model directory, built once each."""
    need_tiny()
    cache: dict[tuple[str, str, str], str] = {}

    def get(source: str = "file", dtype: str = "float32", target: str = "cpu") -> str:
        key = (source, dtype, target)
        prebuilt = os.path.join(os.environ.get("SD_MALI_TINY_MODELS", "/nonexistent"), f"tiny-sd-a-{target}-{dtype}")
        if source == "file" and key not in cache and os.path.exists(os.path.join(prebuilt, "sd-mali.json")):
            cache[key] = prebuilt  # the same build vitest's set-up made (from the single file, with --config)
        if key not in cache:
            out = str(tmp_path_factory.mktemp("build") / f"{source}-{dtype}-{target}")
            checkpoint = os.path.join(TINY, "checkpoint.safetensors") if source == "file" else os.path.join(TINY, "diffusers")
            config = os.path.join(TINY, "diffusers") if source == "file" else None
            build(BuildOptions(checkpoint=checkpoint, out=out, target=target, dtype=dtype, config=config), lambda _e: None)
            cache[key] = out
        return cache[key]

    return get

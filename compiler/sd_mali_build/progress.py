"""Progress and results as JSON lines on stdout (for `sd-mali build`), or short lines for a person."""

from __future__ import annotations

import json
import sys
import time
from typing import Any


class Reporter:
    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines
        self.started = time.monotonic()
        self._last_line = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        event = {"event": "progress", **event, "elapsedS": round(time.monotonic() - self.started, 3)}
        if self.json_lines:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
            return
        now = time.monotonic()
        done, total = event.get("done"), event.get("total")
        # People get one line per phase and a counter at most every 2 s.
        if done is not None and total is not None and done != total and now - self._last_line < 2:
            return
        self._last_line = now
        counter = f" {done}/{total}" if done is not None and total is not None else ""
        sys.stderr.write(f"[{event['elapsedS']:7.1f}s] {event.get('phase', '')}{counter}\n")

    def result(self, kind: str, payload: dict[str, Any]) -> None:
        if self.json_lines:
            sys.stdout.write(json.dumps({"event": kind, **payload}) + "\n")
            sys.stdout.flush()

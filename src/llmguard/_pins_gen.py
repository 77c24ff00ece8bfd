"""Regenerate ``llmguard/data/model_pins.json`` from the reviewed ``llmguard/data/model_pins.yaml``.

    python -m llmguard._pins_gen          # rewrite the JSON from the YAML
    python -m llmguard._pins_gen --check  # exit 1 when the JSON is out of date (what the test checks)

People review and edit the YAML (it carries the comments). The pin rules read the JSON, so a
process that checks pins never imports PyYAML (about 0.7 MiB held for the life of the process).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["COMMAND", "SOURCE", "TARGET", "render"]

SOURCE = Path(__file__).with_name("data") / "model_pins.yaml"
"""The reviewed lists."""

TARGET = SOURCE.with_suffix(".json")
"""What `llmguard._pins` reads."""

COMMAND = "python -m llmguard._pins_gen"
"""How to regenerate it (named in the test's failure)."""


def render() -> str:
    """The JSON the YAML holds (sorted keys, one entry a line: diffs stay readable)."""
    import yaml

    data = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the JSON, or with ``--check`` say whether it is current."""
    from llmguard._snapshot import snapshot_main

    return snapshot_main(argv, target=TARGET, render=render, command=COMMAND, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())

"""JSON Schema of the demo shop's orders file, generated from the models.

The committed copy (`orders/orders.schema.json`) is what merchants' tools
validate against; a test fails when it drifts from the models. Regenerate with:

    python -m orders.schema > orders/orders.schema.json
"""

from __future__ import annotations

import json
from typing import Any

from .models import OrderFile

SCHEMA_ID = "urn:orderhelp:orders-file:v1"


def order_file_schema() -> dict[str, Any]:
    """The schema of `OrderFile`, with an id and a title for people and tools."""
    schema = OrderFile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Order-help bot: demo shop orders file",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def render() -> str:
    """The schema exactly as committed: indented, keys in model order, final newline."""
    return json.dumps(order_file_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")

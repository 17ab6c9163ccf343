"""The published JSON Schema of the orders file matches the models."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from orders.loading import DEMO_ORDERS_FILE, load_order_file
from orders.models import OrderFile, PackageStatus, PaymentMethod
from orders.schema import SCHEMA_ID, order_file_schema, render

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "orders" / "orders.schema.json"
REGENERATE = "python -m orders.schema > orders/orders.schema.json"


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        f"orders/orders.schema.json is out of date with orders/models.py; run: {REGENERATE}"
    )


def test_module_prints_the_schema() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "orders.schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed) == order_file_schema()


def test_schema_names_itself_and_documents_the_enums() -> None:
    schema = order_file_schema()
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"].startswith("Order-help bot")
    assert schema["required"] == ["orders"]
    defs = schema["$defs"]
    assert defs["PackageStatus"]["enum"] == [s.value for s in PackageStatus]
    assert defs["PaymentMethod"]["enum"] == [m.value for m in PaymentMethod]
    assert defs["Order"]["additionalProperties"] is False


def test_sample_validates_against_the_model() -> None:
    sample = OrderFile.model_validate_json(DEMO_ORDERS_FILE.read_text(encoding="utf-8"))
    assert sample.as_of is not None
    assert len(sample.orders) >= 30


def test_the_documented_minimal_file_loads(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "orders-file.md").read_text(encoding="utf-8")
    example = re.search(r"```json\n(.*?)```", doc, re.S)
    assert example is not None
    path = tmp_path / "orders.json"
    path.write_text(example.group(1), encoding="utf-8")
    now = datetime(2025, 6, 20, 12, tzinfo=UTC)
    [order] = load_order_file(path, now)
    assert order.packages[0].estimated_delivery == date(2025, 6, 22)  # moved 5 days

"""`plan` with the inferred footprint sources, through the real CLI on a small history."""

from __future__ import annotations

import json
from typing import Any

from e2e_util import FAKE_CONFIG, E2EProject

CART = 'class Cart:\n    def add_item(self, sku):\n        """Add one item."""\n'


def _history(e2e: E2EProject) -> None:
    """cart.py always changed with its test and the changelog; pay.py alone."""
    for n in range(3):
        e2e.write("src/shop/cart.py", CART + f"# {n}\n")
        e2e.write("tests/test_cart.py", f"def test_add(): pass  # {n}\n")
        e2e.write("CHANGES.md", f"- change {n}\n")
        e2e.git("add", "-A")
        e2e.git("commit", "-qm", f"Cart change {n}")
    e2e.write("src/shop/pay.py", "def charge(card):\n    pass\n")
    e2e.git("add", "-A")
    e2e.git("commit", "-qm", "Payments")


def _task(e2e: E2EProject) -> dict[str, Any]:
    result = e2e.cli("plan", "--format", "json")
    assert result.returncode == 0, result.stderr
    task: dict[str, Any] = json.loads(result.stdout)["tasks"][0]
    return task


def test_plan_tags_each_inferred_path_with_its_source_and_confidence(e2e: E2EProject) -> None:
    _history(e2e)
    e2e.spec("cart", "Make `Cart.add_item` refuse unknown items.")
    task = _task(e2e)
    sources = task["footprint_sources"]
    assert sources["src/shop/cart.py"] == "symbols"
    assert sources["tests/test_cart.py"] == "history"
    assert sources["CHANGES.md"] == "history"
    assert task["footprint_confidence"]["src/shop/cart.py"] == 0.9
    assert task["footprint"] == list(sources)  # the documented list, same paths
    text = e2e.cli("plan").stdout
    assert "[S] 0.90" in text and "H history" in text
    assert list((e2e.root / ".git" / "coordinator" / "index").iterdir())  # cached by base


def test_a_bare_file_name_resolves_to_the_file_of_that_name(e2e: E2EProject) -> None:
    _history(e2e)
    e2e.spec("typo", "Fix the typo in pay.py")
    assert _task(e2e)["footprint_sources"]["src/shop/pay.py"] == "mentioned"


def test_sources_can_be_switched_off_and_modes_keep_their_meaning(e2e: E2EProject) -> None:
    _history(e2e)
    e2e.spec("cart", "Make `Cart.add_item` refuse unknown items. See src/shop/pay.py.")
    e2e.config(FAKE_CONFIG + "\n[predict]\nhistory = false\nretrieval = false\n")
    assert set(_task(e2e)["footprint_sources"].values()) == {"symbols", "mentioned"}
    e2e.config('footprint = "mentioned"\n' + FAKE_CONFIG)
    assert _task(e2e)["footprint_sources"] == {"src/shop/pay.py": "mentioned"}
    e2e.config('footprint = "declared"\n' + FAKE_CONFIG)
    assert _task(e2e)["exclusive"] is True


def test_a_bad_predict_setting_is_one_clear_line(e2e: E2EProject) -> None:
    e2e.config(FAKE_CONFIG + "\n[predict]\nhistroy = false\n")
    e2e.spec("a", "x")
    result = e2e.cli("plan")
    assert result.returncode == 2
    assert "predict.histroy" in result.stderr and "history" in result.stderr
    assert not (e2e.root / ".git" / "coordinator" / "index").exists()

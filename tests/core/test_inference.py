"""The inferred footprint sources, each on a small fixed repository given as data (no git)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coordinator.core.cochange import CoChange, Namesakes, Rules, habits, is_test
from coordinator.core.footprint import RepoPaths
from coordinator.core.inference import Settings, infer, retrieval_hits, symbol_hits
from coordinator.core.mentions import resolve_mentions
from coordinator.core.models import FootprintSource, TaskSpec
from coordinator.core.prediction import Predictor, predict
from coordinator.core.repoindex import RepoIndex
from coordinator.core.symbols import FileFacts, extract
from coordinator.core.terms import identifiers, split_identifier, words

S, R, H, M = (
    FootprintSource.SYMBOLS,
    FootprintSource.RETRIEVAL,
    FootprintSource.HISTORY,
    FootprintSource.MENTIONED,
)

SOURCES = {
    "src/shop/__init__.py": "from shop.cart import Cart\n",
    "src/shop/cart.py": (
        '"""The shopping cart."""\n\nclass Cart:\n    def add_item(self, sku):\n'
        '        """Put one more of an item into the cart."""\n'
        '        raise ValueError("quantity must be positive")\n'
    ),
    "src/shop/checkout.py": (
        "import click\n\n"
        '@click.option("--dry-run", is_flag=True)\ndef pay(total):\n'
        '    """Charge the customer\'s card for the order total."""\n'
    ),
    "src/shop/invoice.py": "def render_invoice(order):\n    return f'Invoice {order}'\n",
    "tests/test_cart.py": "def test_add_item():\n    assert True\n",
    "tests/test_checkout.py": "def test_pay():\n    assert True\n",
    "docs/usage.md": "# Usage\n\nCheckout with a card; invoices are rendered as PDF.\n",
    "CHANGES.md": "# Changes\n",
    "README.md": "# shop\n",
}
PATHS = tuple(sorted(SOURCES))
REPO = RepoPaths.from_files(PATHS)
HISTORY = [
    ["src/shop/cart.py", "tests/test_cart.py", "CHANGES.md"],
    ["src/shop/checkout.py", "tests/test_checkout.py", "CHANGES.md"],
    ["src/shop/cart.py", "tests/test_cart.py", "CHANGES.md"],
    ["src/shop/cart.py", "tests/test_cart.py"],
    ["src/shop/invoice.py", "docs/usage.md"],
    ["src/shop/checkout.py", "tests/test_checkout.py", "CHANGES.md"],
    ["README.md"],
]
MESSAGES = [
    "Cart: reject negative quantities",
    "Checkout: retry a declined card",
    "Cart totals in cents",
    "Cart item limit",
    "Invoices as PDF",
    "Checkout --dry-run flag",
    "README badge",
]


def index(**history: object) -> RepoIndex:
    facts = {path: extract(path, text) for path, text in SOURCES.items()}
    return RepoIndex.from_facts(PATHS, facts, **history)


def spec(body: str, files: tuple[str, ...] = (), agent: str = "coder") -> TaskSpec:
    return TaskSpec(id="t", agent=agent, body=body, source="specs/t.md", order=0, files=files)


# ------------------------------------------------------------------------------ terms
def test_words_split_identifiers_and_drop_stop_words() -> None:
    assert split_identifier("HTTPServerError") == ["http", "server", "error"]
    assert words("Fix the _pager_contextmanager") == [
        "pager_contextmanager",
        "pager",
        "contextmanager",
    ]


def test_identifiers_rank_code_spans_first_and_know_options_and_messages() -> None:
    found = identifiers(
        'Make `Cart.add_item` honour --dry-run and say "quantity must be positive".'
    )
    kinds = {i.name: i.kind for i in found}
    assert kinds["Cart.add_item"] == "code"
    assert kinds["--dry-run"] == "option"
    assert kinds["quantity must be positive"] == "message"
    assert found[0].kind == "code"


# ------------------------------------------------------------------------------ facts
def test_python_facts_come_from_ast() -> None:
    facts = extract("src/shop/cart.py", SOURCES["src/shop/cart.py"])
    assert {"Cart", "add_item", "Cart.add_item"} <= set(facts.defs)
    assert "quantity must be positive" in facts.strings
    assert dict(facts.terms)["cart"] >= 2


def test_other_languages_go_through_a_lexer() -> None:
    go = (
        "package shop\n\n// Total sums the order.\nfunc Total(items []int) int {\n\treturn 0\n}\n"
        "type Cart struct{}\nfunc (c *Cart) Add(sku string) {}\n"
    )
    facts = extract("shop/total.go", go)
    assert {"Total", "Cart", "Add"} <= set(facts.defs)
    assert "c" not in facts.defs and "items" not in facts.defs
    assert "sums" in dict(facts.terms)
    js = extract("web/cart.js", "export function addItem(sku) {}\nclass Basket {}\n")
    assert {"addItem", "Basket"} <= set(js.defs)


def test_binary_and_huge_files_give_no_facts() -> None:
    assert extract("a.py", "x\0y") == FileFacts()
    assert extract("a.py", "x = 1\n" * 100_000) == FileFacts()


def test_a_file_that_does_not_parse_still_gives_words() -> None:
    facts = extract("broken.py", "def oops(:\n    shopping cart\n")
    assert "cart" in dict(facts.terms)


def test_facts_round_trip_through_json() -> None:
    facts = extract("src/shop/cart.py", SOURCES["src/shop/cart.py"])
    assert FileFacts.from_json(facts.to_json()) == facts


# ------------------------------------------------------------------------------ [M]
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Fix the typo in cart.py", {"src/shop/cart.py": 0.9}),
        ("Rewrite the docs/ directory", {"docs/**": 0.8}),
        ("Touch tests/test_*.py", {"tests/test_*.py": 0.9}),
        ("Use `shop.cart.Cart` here", {"src/shop/cart.py": 0.8}),
        ("Create examples/demo/demo.py", {"examples/demo/demo.py": 0.8}),
        (
            "See https://github.com/o/shop/blob/main/src/shop/invoice.py#L3",
            {"src/shop/invoice.py": 1.0},
        ),
        ("Add an entry to the changelog", {"CHANGES.md": 0.8}),
        ("Mention it in the README", {"README.md": 0.8}),
        ("Explain it in the docs", {"docs/**": 0.6}),
        ("Nothing about files here", {}),
    ],
)
def test_mentions_read_paths_as_people_write_them(body: str, expected: dict[str, float]) -> None:
    assert dict(resolve_mentions(body, REPO)) == expected


def test_a_name_shared_by_many_files_names_none() -> None:
    repo = RepoPaths.from_files([f"pkg{i}/__init__.py" for i in range(5)])
    assert resolve_mentions("Edit `__init__.py`", repo) == []


# ------------------------------------------------------------------------------ [S]
def test_symbols_find_definitions_options_and_messages() -> None:
    idx = index()
    assert set(symbol_hits("Make `Cart.add_item` faster", idx)) == {"src/shop/cart.py"}
    assert set(symbol_hits("Honour --dry-run everywhere", idx)) == {"src/shop/checkout.py"}
    assert set(symbol_hits('Reword "quantity must be positive"', idx)) == {"src/shop/cart.py"}
    assert symbol_hits("render_invoice should show taxes", idx)["src/shop/invoice.py"] == 0.8


# ------------------------------------------------------------------------------ [R]
def test_retrieval_ranks_files_by_the_words_of_the_spec() -> None:
    hits = retrieval_hits("The customer's card is charged twice", index(), Settings())
    assert next(iter(hits)) == "src/shop/checkout.py"
    assert max(hits.values()) == pytest.approx(0.7)


def test_retrieval_finds_nothing_for_words_the_repository_never_uses() -> None:
    assert retrieval_hits("quantum flux capacitor", index(), Settings()) == {}


# ------------------------------------------------------------------------------ [H]
def test_co_change_rules_have_support_and_confidence() -> None:
    cochange = CoChange(HISTORY)
    implied = cochange.implied({"src/shop/cart.py": 1.0}, Rules(support=2, confidence=0.5))
    assert implied == {"tests/test_cart.py": 1.0, "CHANGES.md": pytest.approx(2 / 3)}
    assert cochange.implied({"src/shop/invoice.py": 1.0}, Rules(support=2)) == {}


def test_co_change_follows_renames() -> None:
    changes = [
        ["src/new.py"],
        ["src/old.py", "tests/test_old.py"],
        ["src/old.py", "tests/test_old.py"],
    ]
    renames = [[("src/old.py", "src/new.py")], [], []]
    implied = CoChange(changes, None, renames).implied({"src/new.py": 1.0}, Rules(support=2))
    assert implied == {"tests/test_old.py": pytest.approx(2 / 3)}


def test_huge_changes_are_skipped_and_frequent_files_found() -> None:
    cochange = CoChange([[f"f{i}" for i in range(50)], *HISTORY])
    assert "f1" not in cochange.count
    assert cochange.frequent(recent=7, share=0.5) == {"CHANGES.md": pytest.approx(4 / 7)}


def test_tests_named_after_sources_with_a_confidence_learned_from_history() -> None:
    namesakes = Namesakes(PATHS, HISTORY)
    assert namesakes.of("src/shop/cart.py") == ("tests/test_cart.py",)
    assert namesakes.of("tests/test_cart.py") == ()
    assert namesakes.confidence == 1.0  # every change to cart.py or checkout.py had its test
    assert is_test("pkg/thing_test.go") and not is_test("src/shop/cart.py")
    docs = Namesakes([*PATHS, "docs/shopping-cart.md", "docs/cart.md"], HISTORY, "doc")
    assert docs.of("src/shop/cart.py") == ("docs/cart.md",)
    assert docs.confidence == 0.0  # history never changed docs/cart.md with cart.py


def test_habits_are_what_an_agent_type_changes_beyond_its_prediction() -> None:
    tasks = [(["a.py"], ["a.py", "CHANGES.md"])] * 3 + [(["b.py"], ["b.py"])]
    assert habits(tasks) == {"CHANGES.md": 0.75}


# ------------------------------------------------------------------------------ combined
def test_infer_combines_sources_and_tags_each_path() -> None:
    idx = index(changes=HISTORY, messages=MESSAGES)
    found = {
        i.path: i.source for i in infer("Make `Cart.add_item` reject zero", {}, idx, Settings())
    }
    assert found["src/shop/cart.py"] is S
    assert found["tests/test_cart.py"] is H
    assert found["CHANGES.md"] is H


def test_each_source_can_be_switched_off() -> None:
    idx = index(changes=HISTORY, messages=MESSAGES)
    off = Settings(symbols=False, retrieval=False, history=False)
    assert infer("Make `Cart.add_item` reject zero", {}, idx, off) == []
    only_s = {i.source for i in infer("`Cart.add_item`", {}, idx, replace(off, symbols=True))}
    assert only_s == {S}


def test_history_starts_from_written_paths_and_agent_habits() -> None:
    idx = index(changes=HISTORY, habits={"docs-writer": {"docs/usage.md": 0.9}})
    settings = Settings(symbols=False, retrieval=False)
    found = infer("", {"src/shop/checkout.py": 1.0}, idx, settings, agent="docs-writer")
    paths = {i.path for i in found}
    assert {"tests/test_checkout.py", "docs/usage.md"} <= paths
    assert "src/shop/checkout.py" not in paths  # a seed is not inferred again


def test_the_number_of_inferred_paths_is_capped_most_confident_first() -> None:
    idx = index(changes=HISTORY, messages=MESSAGES)
    found = infer("cart checkout invoice card", {}, idx, Settings(max_inferred=2, retrieval_top=5))
    assert len(found) == 2
    assert found[0].confidence >= found[1].confidence


def test_predict_modes() -> None:
    predictor = Predictor(index(changes=HISTORY, messages=MESSAGES), Settings())
    body = "Fix the typo in cart.py"
    inferred, _ = predict(spec(body), REPO, predictor=predictor)
    sources = {c.pattern: c.source for c in inferred.claims}
    assert sources["src/shop/cart.py"] is M
    assert sources["tests/test_cart.py"] is H
    mentioned, _ = predict(spec(body), REPO, mode="mentioned", predictor=predictor)
    assert mentioned.patterns == ("cart.py",)  # the reading before: a new file at the root
    declared, _ = predict(spec(body, files=("x.py",)), REPO, mode="declared", predictor=predictor)
    assert declared.patterns == ("x.py",)


def test_an_unmatched_spec_still_gets_an_unknown_footprint_warning() -> None:
    predictor = Predictor(index(), Settings())
    footprint, warnings = predict(spec("quantum flux capacitor"), REPO, predictor=predictor)
    assert footprint.exclusive
    assert "no name or word of it matched the repository" in warnings[0]


def test_index_state_round_trips_without_the_rankers() -> None:
    idx = index(changes=HISTORY, messages=MESSAGES, shas=[f"{i:040x}" for i in range(7)])
    back = RepoIndex.from_state(idx.state(), None, None)
    assert back.defs == idx.defs and back.changes == [tuple(c) for c in HISTORY]
    assert set(symbol_hits("`Cart.add_item`", back)) == {"src/shop/cart.py"}
    with pytest.raises(ValueError, match="version"):
        RepoIndex.from_state({**idx.state(), "version": 0}, None, None)


def test_a_spec_with_only_weak_candidates_gets_the_best_one_rather_than_nothing() -> None:
    idx = index()
    strict = Settings(history=False, min_confidence=0.95)
    found = infer("The customer's card is charged twice", {}, idx, strict)
    assert [i.path for i in found] == ["src/shop/checkout.py"]
    assert found[0].confidence < 0.95


def test_a_spec_that_lists_its_sources_gets_their_tests_and_changelog_not_more_sources() -> None:
    history = [
        *[["src/shop/cart.py", "tests/test_cart.py", "CHANGES.md"]] * 3,
        *[["src/shop/cart.py", "src/shop/invoice.py", "CHANGES.md"]] * 2,
        *[["README.md"]] * 10,
    ]
    idx = index(changes=history)
    settings = Settings(symbols=False, retrieval=False)
    listed = {i.path for i in infer("", {"src/shop/cart.py": 1.0}, idx, settings)}
    assert {"tests/test_cart.py", "CHANGES.md"} <= listed
    assert "src/shop/invoice.py" not in listed  # a writer who lists sources lists them all
    guessed = {i.path for i in infer("", {"src/shop/cart.py": 0.9}, idx, settings)}
    assert "src/shop/invoice.py" in guessed  # from a guessed path, history may add sources

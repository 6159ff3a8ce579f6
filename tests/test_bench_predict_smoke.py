"""``scripts/bench predict`` on a small generated repository: it runs and its figures hang
together (not a quality test: the repository is synthetic and tiny)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import predict_bench  # noqa: E402


def test_predict_bench_on_a_small_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], isolated_git: None
) -> None:
    repo = tmp_path / "repo"
    predict_bench._synthetic_repo(repo, files=40, commits=20)
    assert predict_bench.main(["--repo", str(repo), "--changes", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["changes"] == 8
    rows = result["rows"]
    assert {"mentioned (before)", "infer (all)", "declared + [H]"} <= set(rows)
    for figures in rows.values():
        assert 0 <= figures["recall"] <= 1 and 0 <= figures["safety"] <= 1
        assert 1 <= figures["speedup"] <= predict_bench.INSTANCES + 1e-9
    # messages name the functions they change ("Change `func_3_a`, ..."): symbols find them,
    # the reading before inference finds nothing
    assert rows["infer (all)"]["recall"] > rows["mentioned (before)"]["recall"]
    assert predict_bench.main(["--repo", str(repo), "--changes", "3"]) == 0
    assert "| infer (all) |" in capsys.readouterr().out


def test_test_and_doc_files_are_what_spec_writers_leave_out() -> None:
    for path in ("tests/test_x.py", "pkg/x_test.go", "docs/x.md", "CHANGES.md", "examples/x.py"):
        assert predict_bench.is_test_or_doc(path), path
    for path in ("src/x.py", "pkg/x.go", "pyproject.toml"):
        assert not predict_bench.is_test_or_doc(path), path

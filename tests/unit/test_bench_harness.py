"""`make bench` folds in the other benchmarks (`bench/*_bench.py`) by their last JSON line."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from kefu_common.settings import PROJECT_ROOT


def load_bench_run():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("kefu_bench_run", PROJECT_ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ROW = {"name": "scoring", "unit": "transcripts/s", "system": 6000.0, "baseline": 20000.0,
       "ratio": 0.3, "target": ">= 0.25"}


def test_external_benchmarks_give_their_last_json_line_or_an_error(tmp_path: Path) -> None:
    (tmp_path / "good_bench.py").write_text(
        f"print('warming up')\nprint({json.dumps(json.dumps(ROW))})\n"
    )
    (tmp_path / "crash_bench.py").write_text("raise SystemExit('no corpus')\n")
    (tmp_path / "partial_bench.py").write_text("print('{\"name\": \"x\", \"unit\": \"ms\"}')\n")
    (tmp_path / "hang_bench.py").write_text("import time\ntime.sleep(60)\n")
    (tmp_path / "helper.py").write_text("raise SystemExit('not a benchmark: never run')\n")

    rows = {r["name"]: r for r in load_bench_run().run_external("postgresql://unused", tmp_path, 2)}

    assert set(rows) == {"scoring", "crash_bench", "partial_bench", "hang_bench"}
    assert {k: rows["scoring"][k] for k in ROW} == ROW
    assert rows["scoring"]["source"] == "bench/good_bench.py"
    assert "no corpus" in rows["crash_bench"]["error"]
    assert "missing" in rows["partial_bench"]["error"]
    assert "timed out" in rows["hang_bench"]["error"]


def test_no_external_benchmarks_is_not_an_error(tmp_path: Path) -> None:
    assert load_bench_run().run_external("postgresql://unused", tmp_path) == []

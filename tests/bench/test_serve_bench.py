"""`ltu-desktop bench --serve`: latency and throughput of the local API under 1, 4 and 8 clients."""

from __future__ import annotations

import json

from ltu_desktop.cli import main


def test_serve_bench_reports_latency_and_answers_per_minute(tmp_path, capsys):
    assert main(["bench", "--serve", "--quick", "--profile", "tiny", "--device", "cpu", "--questions", "1",
                 "--quiet", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "bench-serve.json").read_text())
    assert [x["clients"] for x in r["rounds"]] == [1, 4, 8]
    for x in r["rounds"]:
        assert x["answers"] == x["clients"] and x["errors"] == 0
        assert 0 < x["p50_s"] <= x["p95_s"] and x["answers_per_min"] > 0
    md = (tmp_path / "bench-serve.md").read_text()
    assert "| 8 | 8 | 0 |" in md and md in capsys.readouterr().out

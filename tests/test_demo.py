"""``prism-async demo`` run as a user would: offline, in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_demo_runs_offline_and_leaves_outputs_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}  # no keys at all
    done = subprocess.run(
        [sys.executable, "-m", "prism_async", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    videos = sorted(out.glob("*.mp4"))
    assert len(videos) >= 25
    assert all(v.stat().st_size > 0 for v in videos)
    summary = (out / "summary.txt").read_text()
    for provider in ("nanogpt", "prism", "lipsync"):
        assert provider in summary and provider in done.stdout
    assert "HTTP requests" in summary
    assert len((out / "results.jsonl").read_text().splitlines()) >= 30

"""What people read and share: the console at 80 and 140 columns, the HTML and
Markdown reports (escaped, self-contained, rendered in a real browser)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from conftest import SAMPLES, chromium_flags
from rich.console import Console
from typer.testing import CliRunner

from kzvote.cli import app
from kzvote.render import console as view

runner = CliRunner()


def _anomaly_tests(data):
    return {r["test"] for r in data["results"] if r["verdict"] == "anomaly"}


def test_console_at_80_columns_leads_with_the_anomalies(national_run):
    data = json.loads(national_run["json"].read_text())
    lines = national_run["output"].splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in national_run["output"]  # nothing cut
    head = "\n".join(lines[:15])
    assert "3 anomalies" in head
    # one sentence per anomaly, with its key number, in the first 15 lines
    assert "95% or more" in head  # the corner cluster
    assert "above the line of the typical station" in head  # the excess votes
    assert "ballot-stuffing part" in head  # the fingerprint
    assert len(_anomaly_tests(data)) == 3
    # consistent results collapse into a line each
    assert "consistent:" in national_run["output"]
    assert "last_digit" not in head


@pytest.mark.parametrize("width", [80, 140])
def test_every_table_fits_its_width_without_cutting(national_run, width):
    data = json.loads(national_run["json"].read_text())
    for show_all in (False, True):
        console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(view.report_renderable(data, show_all=show_all))
        text = console.export_text()
        assert max(len(line) for line in text.splitlines()) <= width
        assert "…" not in text
        for verdict in ("anomaly", "consistent", "inconclusive"):
            if show_all:
                assert verdict in text


def test_html_report_names_every_anomaly_and_fetches_nothing(national_run):
    data = json.loads(national_run["json"].read_text())
    page = national_run["html"].read_text(encoding="utf-8")
    for test in _anomaly_tests(data):
        assert f"<h3>{test} " in page
    assert "What else could cause it" in page
    assert "Stations behind the findings" in page
    assert data["input"]["sha256"] in page
    # self-contained: no external fetch at load time
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert page.count("data:image/png;base64,") >= 4  # the figures are embedded
    assert "Majilis 2023 (simulated sample)" in page


HOSTILE = (
    "station_id,region,registered,ballots_issued,ballots_cast,valid,invalid,"
    '"<img src=x onerror=alert(1)>",B|pipe\n'
    + "".join(
        f"<b>{i}</b>,<script>alert({i})</script>,{1000 + i},{600 + i},{600 + i},"
        f"{590 + i},10,{400 + (i % 7)},{190 + i - (i % 7)}\n"
        for i in range(1, 40)
    )
)


def test_hostile_names_stay_text_in_both_reports(tmp_path):
    path = tmp_path / "hostile.csv"
    path.write_text(HOSTILE, encoding="utf-8")
    html_path, md_path = tmp_path / "r.html", tmp_path / "r.md"
    for out in (html_path, md_path):
        result = runner.invoke(
            app,
            ["analyze", str(path), "--tests", "arithmetic", "--no-plots", "-q"]
            + ["--report", str(out), "--stations", str(tmp_path / "s.csv")],
        )
        assert result.exit_code == 0, result.output
    page = html_path.read_text(encoding="utf-8")
    assert "<script>" not in page and "<img src=x" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    markdown = md_path.read_text(encoding="utf-8")
    assert "<script>" not in markdown and "<img" not in markdown
    assert "B\\|pipe" in markdown or "pipe" not in markdown


def test_report_needs_a_known_extension(tmp_path):
    result = runner.invoke(
        app, ["analyze", str(SAMPLES / "clean_control.csv"), "--report", str(tmp_path / "r.pdf")]
    )
    assert result.exit_code == 2
    assert ".html or .md" in result.output


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_report_renders_in_headless_chromium(national_run, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium')")
    shot = tmp_path / "shot.png"
    flags = chromium_flags(tmp_path / "profile")
    url = national_run["html"].resolve().as_uri()
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,3000", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url], check=True, capture_output=True, timeout=120
    ).stdout.decode("utf-8", "replace")
    assert "The anomalies, one by one" in dom
    assert dom.count("<img") >= 4


def test_compare_report_in_both_formats(tmp_path):
    official = str(SAMPLES / "kz2023_almaty_official.csv")
    observed = str(SAMPLES / "kz2023_almaty_observers.csv")
    for name in ("c.html", "c.md"):
        result = runner.invoke(
            app,
            ["compare", official, observed, "--no-plots", "-q", "--report", str(tmp_path / name)],
        )
        assert result.exit_code == 0, result.output
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "Stations that differ" in page and "ALA-" in page
    assert "observers counted" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "| observer_turnout |" in (tmp_path / "c.md").read_text(encoding="utf-8")


def _stderr_on_a_terminal(args):
    """Run kzvote with stderr on a pseudo-terminal; return what the terminal showed."""
    import os
    import pty
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kzvote", *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=dict(os.environ, COLUMNS="80", TERM="xterm"),
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    proc.wait(timeout=120)
    os.close(leader)
    return proc.returncode, shown.decode("utf-8", "replace")


def test_progress_shows_on_a_terminal_and_never_with_quiet():
    path = str(SAMPLES / "clean_control.csv")
    code, shown = _stderr_on_a_terminal(
        ["analyze", path, "--no-plots", "--tests", "arithmetic,digits"]
    )
    assert code == 0
    assert "digits (national)" in shown or "reading clean_control.csv" in shown
    code, shown = _stderr_on_a_terminal(["analyze", path, "--no-plots", "-q", "--tests", "digits"])
    assert code == 0 and shown.strip() == ""


def test_fingerprint_sentence_says_an_open_interval_end():
    """An interval end the profile search did not close is written "or more", never as
    a number the data do not support."""
    from kzvote.render.words import sentence

    base = {
        "test": "fingerprint",
        "scope": "national",
        "details": {
            "f_incremental": 0.12,
            "f_incremental_interval": [0.05, 0.27],
            "f_extreme": 0.001,
            "f_extreme_interval": [0.0005, 0.002],
        },
    }
    closed = sentence(base, "Amanat")
    assert "(5%-27%)" in closed
    base["details"]["interval_open"] = {"f_incremental": ["high"], "f_extreme": []}
    opened = sentence(base, "Amanat")
    assert "27%" not in opened and "or more" in opened

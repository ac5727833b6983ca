"""The plots embedded in log.html decode in a real browser (headless Chromium).

A small suite draws one plot of each kind; its ``log.html`` is copied with a probe script appended that expands
every keyword (the log renders messages only when expanded), waits for the ``img.qs-plot`` elements and writes
what the browser decoded (``naturalWidth``/``naturalHeight``) into the page, which Chromium's ``--dump-dom``
prints. Chromium comes from Debian's ``chromium`` package (``atest/ensure_chromium.sh`` installs it); when it is
missing this test fails, it does not skip. ``QS_CHECK_LOG=/path/log.html`` also checks another run's log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SUITE = Path(__file__).parent / "data" / "plots_suite" / "plots.robot"
PROBE = """
<script>
(function () {
  var started = Date.now();
  function report(result) {
    var pre = document.createElement('pre');
    pre.id = 'qs-probe';
    pre.textContent = 'QS-' + 'PROBE ' + JSON.stringify(result) + ' QS-' + 'END';
    document.body.appendChild(pre);
  }
  function check() {
    var imgs = Array.prototype.slice.call(document.querySelectorAll('img.qs-plot'));
    var pending = imgs.filter(function (i) { return !i.complete; }).length;
    if ((imgs.length === 0 || pending) && Date.now() - started < 15000) { setTimeout(check, 100); return; }
    report({images: imgs.map(function (i) {
      return {alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight};
    })});
  }
  window.addEventListener('load', function () {
    setTimeout(function () {
      try { expandAll('s1'); } catch (e) { report({error: 'expandAll failed: ' + e}); return; }
      check();
    }, 200);
  });
})();
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "Chromium is not installed, so the plots in log.html cannot be checked in a browser. "
        "Run atest/ensure_chromium.sh (installs Debian's chromium package as root) or `apt-get install chromium`.",
        pytrace=False,
    )


def probe(log_html: Path, workdir: Path, script: str = PROBE) -> dict:
    """Open ``log_html`` with ``script`` appended in headless Chromium; the JSON the script reported."""
    page = workdir / "probed-log.html"
    text = log_html.read_text(encoding="utf-8")
    assert "</body>" in text, f"{log_html} does not look like an HTML page"
    page.write_text(text.replace("</body>", script + "</body>", 1), encoding="utf-8")
    profile = workdir / "chromium-profile"
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=20000",
        "--dump-dom",
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    match = re.search(r"QS-PROBE (.*?) QS-END", proc.stdout, re.S)
    assert match, f"Chromium printed no probe result (exit {proc.returncode}); stderr: {proc.stderr[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def check_images(result: dict, expected: int | None = None) -> None:
    assert "error" not in result, result
    images = result["images"]
    assert images, "no plot image (img.qs-plot) in the log"
    if expected is not None:
        assert len(images) == expected, images
    broken = [i for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    assert not broken, f"plot images that did not decode: {broken}"


def test_every_plot_in_a_generated_log_decodes_in_chromium(tmp_path):
    out = tmp_path / "robot"
    run = subprocess.run(
        [sys.executable, "-m", "robot", "--outputdir", str(out), "--console", "none", str(SUITE)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(list((out / "plots").glob("*.png"))) == 4
    result = probe(out / "log.html", tmp_path)
    check_images(result, expected=4)
    assert {i["alt"] for i in result["images"]} == {
        "prompt latency",
        "RSS over time",
        "events per second",
        "daemon vs CLI",
    }
    assert all((i["width"], i["height"]) == (700, 360) for i in result["images"])


@pytest.mark.skipif(not os.environ.get("QS_CHECK_LOG"), reason="QS_CHECK_LOG not set (no other log to check)")
def test_plots_in_a_given_log_decode(tmp_path):
    check_images(probe(Path(os.environ["QS_CHECK_LOG"]), tmp_path))


def test_the_probe_notices_an_image_that_does_not_decode(tmp_path):
    """The check is real: a broken PNG next to a good one is reported as not decoded."""
    from keywords.reporting import plots

    good = plots.bars(["a"], {"x": [1]}, "good", tmp_path / "good.png")
    page = tmp_path / "fake-log.html"
    page.write_text(
        "<html><head><script>function expandAll(id) {}</script></head><body>"
        + good.html()
        + '<img class="qs-plot" alt="broken" src="data:image/png;base64,iVBORw0KGgoAAAAbroken">'
        + "</body></html>"
    )
    result = probe(page, tmp_path)
    by_alt = {i["alt"]: i for i in result["images"]}
    assert by_alt["good"]["width"] == 700
    assert by_alt["broken"]["width"] == 0
    with pytest.raises(AssertionError, match="did not decode"):
        check_images(result)

"""Check that `dvc plots show` draws, offline, in headless Chromium, and keep a screenshot.

Renders the project's plots with DVC (through plots/offline.html when
plots/offline_template.py has been run), loads the page in Debian's
`chromium` with no network, and checks that the learning curves drew both
series of both metrics, and every other Vega plot drew marks. Exits non-zero if not.

    python plots/render_check.py [--screenshot reports/plots.png]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

BROWSER = os.environ.get("CHROMIUM", "chromium")  # e.g. google-chrome on GitHub's runners
LEARNING_CURVES = "reports_history_csv"  # the id of the plot in the page
CHROMIUM = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=15000"]


class CannotCheck(Exception):
    """Something the check needs is missing: one line says what."""


def drawn_marks(dom: str) -> dict[str, Counter]:
    """For each Vega plot of the page, the data marks it drew with real geometry, by
    kind: a line per series, a rect per cell, a symbol per point."""
    marks = {}
    for chunk in re.split(r'<div id="', dom)[1:]:
        name, svg = chunk.split('"', 1)[0], chunk.split("</svg>", 1)[0]
        if "<svg" in svg:
            marks[name] = Counter(re.findall(r'<path[^>]*aria-roledescription="(\w+) mark"'
                                             r'[^>]*\sd="M', svg))
    return marks


def render(project: Path, screenshot: Path) -> dict[str, Counter]:
    """Marks per Vega plot of `dvc plots show` in `project`; also writes `screenshot`."""
    if not shutil.which(BROWSER):
        raise CannotCheck(f"{BROWSER} is not installed: install Chromium (Debian: apt-get "
                          "install chromium; macOS: brew install --cask chromium), or set "
                          "CHROMIUM to a Chrome or Chromium you have")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plots"
        shown = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "-o", str(out)],
                               cwd=project, capture_output=True, text=True)
        if shown.returncode != 0 or not (out / "index.html").is_file():
            raise CannotCheck("`dvc plots show` failed: "
                              + (shown.stderr.strip().splitlines() or ["no page written"])[-1])
        page = (out / "index.html").as_uri()
        if re.search(r'<script src="https?:', (out / "index.html").read_text()):
            raise CannotCheck("the page loads scripts from the internet: run "
                              "`make setup` (plots/offline_template.py) first")
        profile = ["--user-data-dir=" + str(Path(tmp) / "profile")]
        dom = subprocess.run(CHROMIUM + profile + ["--dump-dom", page], capture_output=True,
                             text=True, check=True, timeout=120).stdout
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(CHROMIUM + profile + [f"--screenshot={screenshot.resolve()}",
                                             "--window-size=1400,2200", page],
                       capture_output=True, check=True, timeout=120)
    return drawn_marks(dom)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, default=Path("reports/plots.png"))
    args = parser.parse_args()
    try:
        marks = render(Path.cwd(), args.screenshot)
    except CannotCheck as error:
        sys.exit(f"error: {error}")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        sys.exit(f"error: {error.cmd[0]} failed to draw the page ({error})")
    for name, kinds in marks.items():
        print(f"{name}: " + (", ".join(f"{n} {kind}" for kind, n in kinds.items()) or "nothing"))
    if marks.get(LEARNING_CURVES, Counter())["line"] < 4:
        sys.exit("FAIL: the learning curves did not draw training and validation of both metrics")
    if not all(marks.values()):
        sys.exit("FAIL: a plot drew nothing")
    print(f"all {len(marks)} Vega plots drew; screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()

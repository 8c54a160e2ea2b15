"""Check that `dvc plots show` draws, offline, in headless Chromium, and keep a screenshot.

Renders the project's plots with DVC (through plots/offline.html when
plots/offline_template.py has been run), loads the page in Debian's
`chromium` with no network, and checks that the learning curves drew both
series of both metrics, the ROC curve its chance line and AUC, the confusion
matrix its four counts, and every Vega plot drew marks. Exits non-zero if not.

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
from typing import NamedTuple

BROWSER = os.environ.get("CHROMIUM", "chromium")  # e.g. google-chrome on GitHub's runners
LEARNING_CURVES = "reports_history_csv"  # the ids of the plots in the page
ROC, CONFUSION = "reports_roc_json", "reports_predictions_csv"
CHROMIUM = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", "--virtual-time-budget=15000"]


class CannotCheck(Exception):
    """Something the check needs is missing: one line says what."""


class Plot(NamedTuple):
    """What one Vega plot of the page drew."""
    marks: Counter  # data marks with real geometry, by kind: a line per series, a rect per cell
    texts: list[tuple[str, str]]  # each text mark: (its text, its colour)
    legend: dict[str, str]  # each legend entry: label -> colour


def drawn(dom: str) -> dict[str, Plot]:
    """Each Vega plot of the page, by its id."""
    plots = {}
    for chunk in re.split(r'<div id="', dom)[1:]:
        name, svg = chunk.split('"', 1)[0], chunk.split("</svg>", 1)[0]
        if "<svg" in svg:
            marks = Counter(re.findall(r'<path[^>]*aria-roledescription="(\w+) mark"'
                                       r'[^>]*\sd="M', svg))
            texts = [(text, fill) for fill, text in re.findall(
                r'<text[^>]*aria-roledescription="text mark"[^>]*fill="([^"]+)"[^>]*>([^<]*)<',
                svg)]
            legend = {label: fill for fill, label in re.findall(
                r'role-legend-symbol.*?<path[^>]*fill="([^"]+)".*?role-legend-label.*?'
                r'<text[^>]*>([^<]*)</text>', svg)}
            plots[name] = Plot(marks, texts, legend)
    return plots


def problems(plots: dict[str, Plot]) -> list[str]:
    """What a reader would miss on the page: nothing, when every chart drew in full."""
    found = []
    if plots.get(LEARNING_CURVES, Plot(Counter(), [], {})).marks["line"] < 4:
        found.append("the learning curves did not draw training and validation of both metrics")
    roc = plots.get(ROC)
    if not roc or roc.marks["line"] < 2 or not any(t.startswith("AUC ") for t, _ in roc.texts):
        found.append("the ROC curve lacks its chance line or its AUC")
    confusion = plots.get(CONFUSION)
    if not confusion or sum(t.replace(",", "").isdigit() for t, _ in confusion.texts) < 4:
        found.append("the confusion matrix does not show its four counts")
    found += [f"{name} drew nothing" for name, plot in plots.items() if not plot.marks]
    return found


def render(project: Path, screenshot: Path, revisions: tuple[str, ...] = ()) -> dict[str, Plot]:
    """What each Vega plot of `dvc plots show` in `project` drew (or of `dvc plots diff
    REVISIONS…`, with revisions); also writes `screenshot`."""
    if not shutil.which(BROWSER):
        raise CannotCheck(f"{BROWSER} is not installed: install Chromium (Debian: apt-get "
                          "install chromium; macOS: brew install --cask chromium), or set "
                          "CHROMIUM to a Chrome or Chromium you have")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "plots"
        command = ["diff", *revisions] if revisions else ["show"]
        shown = subprocess.run([sys.executable, "-m", "dvc", "plots", *command, "-o", str(out)],
                               cwd=project, capture_output=True, text=True)
        if shown.returncode != 0 or not (out / "index.html").is_file():
            raise CannotCheck(f"`dvc plots {command[0]}` failed: "
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
                                             "--window-size=1400,1000", page],
                       capture_output=True, check=True, timeout=120)
    return drawn(dom)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, default=Path("reports/plots.png"))
    args = parser.parse_args()
    try:
        plots = render(Path.cwd(), args.screenshot)
    except CannotCheck as error:
        sys.exit(f"error: {error}")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        sys.exit(f"error: {error.cmd[0]} failed to draw the page ({error})")
    for name, plot in plots.items():
        print(f"{name}: " + (", ".join(f"{n} {kind}" for kind, n in plot.marks.items())
                             or "nothing") + "".join(f"; {text!r}" for text, _ in plot.texts))
    if missing := problems(plots):
        sys.exit("FAIL: " + "; ".join(missing))
    print(f"all {len(plots)} Vega plots drew in full; screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()

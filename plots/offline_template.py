"""Build the HTML template that lets `dvc plots show` draw without internet.

DVC's default page loads vega, vega-lite and vega-embed from a CDN: offline
it stays blank. This writes plots/offline.html with the three libraries
inlined (installed from the npm registry by `npm ci --prefix plots`) and
points DVC at it in .dvc/config.local (a per-machine setting, not in git).

    python plots/offline_template.py
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARIES = ["vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js",
             "vega-embed/build/vega-embed.min.js"]
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    <title>DVC Plot</title>
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def main() -> None:
    scripts = []
    for library in LIBRARIES:
        path = HERE / "node_modules" / library
        if not path.is_file():
            sys.exit(f"{path} is missing: run `npm ci --prefix plots` first")
        code = path.read_text(encoding="utf-8")
        if "</script" in code or "{plot_divs}" in code:
            sys.exit(f"{library} cannot be inlined as it is")
        scripts.append(f"    <script>{code}</script>")
    # SVG rather than canvas: crisp when zoomed, and its marks can be checked in the page.
    scripts.append('    <script>const embedCanvas = vegaEmbed; vegaEmbed = (el, spec, opt) => '
                   'embedCanvas(el, spec, Object.assign({renderer: "svg"}, opt));</script>')
    template = HERE / "offline.html"
    # DVC fills {plot_divs} by plain string replacement, so the braces stay single.
    template.write_text(PAGE.format(scripts="\n".join(scripts)), encoding="utf-8")
    # DVC reads the template path relative to .dvc/.
    subprocess.run([sys.executable, "-m", "dvc", "config", "--local", "plots.html_template",
                    "../plots/offline.html"], check=True)
    print(f"dvc plots show now draws offline, with {template}")


if __name__ == "__main__":
    main()

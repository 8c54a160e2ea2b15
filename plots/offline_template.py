"""Build the HTML template that lets `dvc plots show` draw without internet.

DVC's default page loads vega, vega-lite and vega-embed from a CDN: offline
it stays blank. This writes plots/offline.html with the three libraries
inlined — the bundle that the vl-convert-python package ships, so no Node.js
is needed — and points DVC at it in .dvc/config.local (a per-machine
setting, not in git).

    python plots/offline_template.py
"""

import subprocess
import sys
from pathlib import Path

import vl_convert

HERE = Path(__file__).resolve().parent
VEGA_LITE = "5.21"  # DVC's plot specs are Vega-Lite 5 specs
# The bundle's code stays inside a function; only these three become globals. SVG
# rather than canvas: crisp when zoomed, and its marks can be checked in the page.
SNIPPET = """
window.vega = vega;
window.vegaLite = vegaLite;
window.vegaEmbed = (el, spec, opt) => vegaEmbed(el, spec, Object.assign({renderer: "svg"}, opt));
"""
PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <script>(() => {{
{bundle}
}})();</script>
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
    bundle = vl_convert.javascript_bundle(snippet=SNIPPET, vl_version=VEGA_LITE)
    # DVC fills its placeholders by plain string replacement: none may be in the code.
    if "</script" in bundle or any(f"{{{name}}}" in bundle
                                   for name in ("plot_divs", "scripts", "refresh_tag")):
        sys.exit("the Vega bundle cannot be inlined as it is")
    template = HERE / "offline.html"
    template.write_text(PAGE.format(bundle=bundle), encoding="utf-8")
    # DVC reads the template path relative to .dvc/.
    subprocess.run([sys.executable, "-m", "dvc", "config", "--local", "plots.html_template",
                    "../plots/offline.html"], check=True)
    print(f"dvc plots show now draws offline, with {template}")


if __name__ == "__main__":
    main()

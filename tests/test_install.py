"""Installing on the machines people have: the lock, the Python finder, the package, no Node.js."""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT
from packaging.markers import Marker, default_environment

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data

UV = shutil.which("uv", path=os.path.dirname(sys.executable))
PLATFORMS = {  # uv's name → the marker values of that platform
    "x86_64-unknown-linux-gnu": {"sys_platform": "linux", "platform_machine": "x86_64",
                                 "platform_system": "Linux", "os_name": "posix"},
    "aarch64-unknown-linux-gnu": {"sys_platform": "linux", "platform_machine": "aarch64",
                                  "platform_system": "Linux", "os_name": "posix"},
    "aarch64-apple-darwin": {"sys_platform": "darwin", "platform_machine": "arm64",
                             "platform_system": "Darwin", "os_name": "posix"},
    "x86_64-pc-windows-msvc": {"sys_platform": "win32", "platform_machine": "AMD64",
                               "platform_system": "Windows", "os_name": "nt"},
}
PYTHONS = ["3.11", "3.12", "3.13"]
# Pure-Python packages published as source only; every other package must have a wheel.
SOURCE_ONLY = {"antlr4-python3-runtime"}


def pins(text: str) -> list[tuple[str, str, str]]:
    """(name, version, marker) of every `name==version [; marker]` line of a requirements file."""
    found = []
    for line in text.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*(?:;\s*(.*))?$", line)
        if match:
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            found.append((name, match[2], match[3] or ""))
    return found


def uv(*args: str) -> subprocess.CompletedProcess:
    # The target Python is only a version to resolve for: uv must not download one.
    env = os.environ | {"UV_PYTHON_DOWNLOADS": "never"}
    result = subprocess.run([UV, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    offline = re.search(r"(?i)failed to fetch|dns error|connect|network", result.stderr)
    if result.returncode and offline:
        pytest.skip(f"the package index cannot be reached: {result.stderr.strip()[-200:]}")
    return result


@pytest.fixture(scope="module")
def resolutions(tmp_path_factory):
    """The lock resolved by uv for every supported platform × Python, wheels required."""
    out = tmp_path_factory.mktemp("resolved")
    names = {name for name, _, _ in pins((ROOT / "requirements.txt").read_text())}
    wheels_only = [arg for name in sorted(names - SOURCE_ONLY) for arg in ("--only-binary", name)]

    def resolve(platform, python):
        path = out / f"{platform}-{python}.txt"
        result = uv("pip", "compile", "--quiet", "--no-header", "--python-platform", platform,
                    "--python-version", python, *wheels_only, "requirements.txt", "-o", str(path))
        return result, path

    jobs = [(platform, python) for platform in PLATFORMS for python in PYTHONS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: resolve(*job), jobs))
    return dict(zip(jobs, results))


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_lock_resolves_with_the_same_pins_on_every_platform(resolutions, platform, python):
    result, path = resolutions[platform, python]
    assert result.returncode == 0, result.stderr
    environment = default_environment() | PLATFORMS[platform] | {
        "python_version": python, "python_full_version": f"{python}.0",
        "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    lock = (ROOT / "requirements.txt").read_text()
    locked = {name: version for name, version, marker in pins(lock)
              if not marker or Marker(marker).evaluate(environment)}
    resolved = {name: version for name, version, _ in pins(path.read_text())}
    assert resolved == locked
    tensorflow = "tensorflow-cpu" if platform.startswith("x86_64") else "tensorflow"
    assert resolved[tensorflow] == "2.21.0"


def test_lock_has_one_version_of_each_package():
    names = [name for name, _, _ in pins((ROOT / "requirements.txt").read_text())]
    assert len(names) == len(set(names)) > 100


def test_lock_is_what_pyproject_asks_for(tmp_path):
    """requirements.txt is up to date: `make lock` would write it as it is."""
    command = (ROOT / "requirements.txt").read_text().splitlines()[1].strip("# ").split()
    assert command[:3] == ["uv", "pip", "compile"] and command[-2:] == ["-o", "requirements.txt"]
    shutil.copy(ROOT / "requirements.txt", tmp_path / "lock.txt")  # uv keeps its pins if it can
    result = uv(*command[1:-2], "-o", str(tmp_path / "lock.txt"))
    assert result.returncode == 0, result.stderr
    locked = pins((ROOT / "requirements.txt").read_text())
    assert pins((tmp_path / "lock.txt").read_text()) == locked
    make_lock = re.search(r"^lock:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)[1]
    written = make_lock.replace("\\\n", " ").replace("--quiet", "")
    assert " ".join(command[1:]) in " ".join(written.split())


# --- make finds its Python ----------------------------------------------------------

def fake_pythons(folder: Path, versions: dict[str, str]) -> dict:
    """Scripts named like interpreters that print a version, and a PATH of just them."""
    folder.mkdir(exist_ok=True)
    for name, version in versions.items():
        (folder / name).write_text(f"#!/bin/sh\necho {version}\n")
        (folder / name).chmod(0o755)
    return {"PATH": str(folder), "HOME": os.environ.get("HOME", "/")}


def make_python(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("make"), "--no-print-directory", "-C", str(ROOT),
                           "python", *args], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("versions, chosen", [
    ({"python3": "3.12", "python3.13": "3.13"}, "python3 (Python 3.12)"),
    ({"python3": "3.10", "python3.11": "3.11", "python3.13": "3.13"}, "python3.13 (Python 3.13)"),
    ({"python3": "3.14", "python3.12": "3.12", "python3.11": "3.11"}, "python3.12 (Python 3.12)"),
    ({"python3": "3.9", "python": "3.11"}, "python (Python 3.11)"),
])
def test_make_finds_a_supported_python(tmp_path, versions, chosen):
    result = make_python(fake_pythons(tmp_path, versions))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == chosen


def test_make_says_which_pythons_it_needs(tmp_path):
    env = fake_pythons(tmp_path, {"python3": "3.10", "python3.9": "3.9"})
    result = make_python(env)
    assert result.returncode != 0
    assert "no Python 3.11, 3.12 or 3.13 found on PATH" in result.stderr
    result = make_python(env, "PYTHON=python3.9")
    assert result.returncode != 0
    assert "PYTHON=python3.9 is not Python 3.11, 3.12 or 3.13 (it is '3.9')" in result.stderr
    env = fake_pythons(tmp_path, {"python3.12": "3.12"})
    assert make_python(env, "PYTHON=python3.12").stdout.strip() == "python3.12 (Python 3.12)"


# --- no Node.js, and an installable package -----------------------------------------------

def test_setup_and_reproduction_need_no_node():
    commands = subprocess.run([shutil.which("make"), "-C", str(ROOT), "--dry-run", "--always-make",
                               "PYTHON=python3", "setup", "repro", "test", "plots-check"],
                              capture_output=True, text=True, check=True).stdout
    assert "offline_template.py" in commands and "dvc repro" in commands
    assert not re.search(r"\b(npm|npx|node)\b", commands)
    assert not list(ROOT.glob("plots/package*.json"))


def test_offline_template_inlines_vega_from_python(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=project, check=True)
    shutil.copytree(ROOT / "plots", project / "plots",
                    ignore=shutil.ignore_patterns("offline.html"))
    env = os.environ | {"PATH": os.path.dirname(sys.executable), "DVC_NO_ANALYTICS": "1"}
    subprocess.run([sys.executable, "plots/offline_template.py"], cwd=project, env=env, check=True,
                   capture_output=True)
    page = (project / "plots/offline.html").read_text()
    assert "{plot_divs}" in page and "window.vegaEmbed" in page
    assert not re.search(r"<script[^>]*\ssrc=", page)
    config = subprocess.run([sys.executable, "-m", "dvc", "config", "plots.html_template"],
                            cwd=project, env=env, capture_output=True, text=True, check=True)
    assert config.stdout.strip() == "../plots/offline.html"


def test_package_builds_with_the_stages_and_the_pinned_dependencies(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the code
    shutil.copytree(ROOT / "stages", source / "stages",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    code = {path.relative_to(ROOT).as_posix() for path in (ROOT / "stages").rglob("*.py")}
    assert code <= set(names), code - set(names)
    assert not [name for name in names if name.startswith(("tests/", "benchmarks/"))]
    requires = re.findall(r"^Requires-Dist: ([^;\s]+)", metadata, re.M)
    assert "keras==3.15.1" in requires and "dvc[ssh]==3.67.1" in requires  # SSH remotes
    assert "tensorflow-cpu==2.21.0" in requires and "tensorflow==2.21.0" in requires

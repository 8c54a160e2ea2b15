"""`python -m stages.get_data`: the dataset put in place and recorded by DVC, from a copy at
hand, a DVC remote, or a download (a real HTTP server on 127.0.0.1); offline, a clear error."""

import shutil
import sys

import pytest
import yaml
from conftest import ROOT, Project, tar_gz, write_aclimdb
from servers import HTTPServer

pytestmark = pytest.mark.slow  # DVC in subprocesses, servers or the real data

DATASET = "data/external/aclImdb.tar.gz"


@pytest.fixture
def repo(tmp_path):
    """A git + DVC repository with the project's params and ignore rules, and no data."""
    project = Project(tmp_path / "repo")
    project.path.mkdir()
    for name in ("params.yaml", ".gitignore"):
        shutil.copy(ROOT / name, project.path / name)
    project.run("git", "init", "-q")
    project.dvc("init", "-q")
    assert yaml.safe_load((ROOT / "params.yaml").read_text())["load"]["path"] == DATASET
    return project


@pytest.fixture
def archive(tmp_path):
    return tar_gz(write_aclimdb(tmp_path / "source", per_class=2), tmp_path / "aclImdb_v1.tar.gz")


def get_data(project: Project, *args: str, check: bool = True):
    return project.run(sys.executable, "-m", "stages.get_data", *args, check=check)


@pytest.fixture(autouse=True)
def stages_importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def tracked(project: Project) -> dict:
    return yaml.safe_load((project.path / f"{DATASET}.dvc").read_text())


def test_a_copy_in_place_is_recorded_and_cached(repo, archive):
    (repo.path / DATASET).parent.mkdir(parents=True)
    shutil.copy(archive, repo.path / DATASET)
    result = get_data(repo)
    assert "is in place and in DVC's cache" in result.stdout
    [out] = tracked(repo)["outs"]
    assert out["size"] == archive.stat().st_size
    md5 = out["md5"]
    assert (repo.path / ".dvc/cache/files/md5" / md5[:2] / md5[2:]).is_file()
    repo.commit("dataset")
    again = get_data(repo)  # the same copy once more: the committed record stays as it is
    assert "commit it" not in again.stdout
    assert repo.run("git", "status", "--porcelain").stdout == ""


def test_own_data_with_a_test_file_of_its_own_records_both(repo):
    """For a csv source with a separate test file, both files go under DVC, each with its
    own .dvc file: an experiment in a temporary workspace needs the test file as well."""
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    params["load"] |= {"source": "csv", "path": "data/external/train.csv",
                       "test_path": "data/external/test.csv"}
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params))
    (repo.path / "data/external").mkdir(parents=True)
    for name in ("train", "test"):
        (repo.path / f"data/external/{name}.csv").write_text("text,label\ngood,pos\nbad,neg\n")
    get_data(repo)
    for name in ("train", "test"):
        [out] = yaml.safe_load((repo.path / f"data/external/{name}.csv.dvc").read_text())["outs"]
        assert out["path"] == f"{name}.csv"


def test_an_archive_under_its_own_name_is_moved_into_place(repo, archive):
    (repo.path / "data/external").mkdir(parents=True)
    shutil.copy(archive, repo.path / "data/external/aclImdb_v1.tar.gz")
    result = get_data(repo)
    assert "moving data/external/aclImdb_v1.tar.gz to data/external/aclImdb.tar.gz" in result.stdout
    assert (repo.path / DATASET).read_bytes() == archive.read_bytes()
    assert not (repo.path / "data/external/aclImdb_v1.tar.gz").exists()


def test_a_missing_dataset_is_pulled_from_the_remote(repo, archive, tmp_path):
    (repo.path / DATASET).parent.mkdir(parents=True)
    shutil.copy(archive, repo.path / DATASET)
    get_data(repo)
    repo.dvc("remote", "add", "-d", "shared", str(tmp_path / "remote"))
    repo.dvc("push")
    (repo.path / DATASET).unlink()
    shutil.rmtree(repo.path / ".dvc/cache")
    result = get_data(repo)
    assert f"{DATASET} pulled from the DVC remote" in result.stdout
    assert (repo.path / DATASET).read_bytes() == archive.read_bytes()


def test_with_nothing_at_hand_it_downloads_and_records_the_address(repo, archive, tmp_path):
    server = HTTPServer(tmp_path / "http", serve=archive.parent).start()
    try:
        url = f"{server.url}/{archive.name}"
        result = get_data(repo, "--url", url)
    finally:
        server.stop()
    assert f"downloading {url}" in result.stdout
    assert (repo.path / DATASET).read_bytes() == archive.read_bytes()
    record = tracked(repo)
    assert record["deps"][0]["path"] == url  # `dvc update` can check it again
    assert record["outs"][0]["size"] == archive.stat().st_size


def test_offline_it_says_where_to_put_what_and_leaves_nothing(repo):
    result = get_data(repo, "--url", "http://127.0.0.1:9/aclImdb_v1.tar.gz", check=False)
    assert result.returncode == 1
    assert ("Offline? Put aclImdb_v1.tar.gz or aclImdb_train_test.tar.gz at "
            "data/external/aclImdb.tar.gz") in result.stderr
    assert "Traceback" not in result.stderr
    leftovers = [p for p in (repo.path / "data").rglob("*") if p.is_file()] \
        if (repo.path / "data").exists() else []
    assert leftovers == []

"""Your own labelled texts: the csv and folder sources, their errors, and the pipeline on them."""

import csv
import gzip
import json
import sys

import numpy as np
import pytest
import yaml
from conftest import make_project, make_review

from stages import load
from stages.reviews.raw import unpack_reviews
from stages.runner.files import load_arrays
from stages.runner.process import StageError

LABEL = {0: "negative", 1: "positive"}


def write_csv(path, rows, header=("id", "review", "sentiment"), delimiter=",", encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def labelled_rows(n_per_class=10, seed=0, others=()):
    """(id, text, label) rows, alternating classes, with `others` label values mixed in."""
    rng = np.random.default_rng(seed)
    rows = [(i, make_review(rng, i % 2), LABEL[i % 2]) for i in range(2 * n_per_class)]
    for j, label in enumerate(others):
        rows.insert(3 * j + 1, (100 + j, f"It was fine, I suppose ({j})", label))
    return rows


@pytest.fixture
def run_load(tmp_path, monkeypatch):
    """Run load with these params in an empty project; return its two outputs' arrays."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/external").mkdir(parents=True)

    def run(path, test_path=None, **params):
        block = {"source": "csv", "path": str(path), "test_path": str(test_path or path),
                 "text_column": "review", "label_column": "sentiment",
                 "positive": ["positive"], "negative": ["negative"], **params}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"load": block}))
        monkeypatch.setattr(sys, "argv", ["load", block["path"], block["test_path"], "data/raw"])
        load.main()
        out = {}
        for split in ("train", "test"):
            arrays = load_arrays(tmp_path / "data/raw" / f"{split}.npz",
                                 "text", "offsets", "labels")
            out[split] = (unpack_reviews(arrays["text"], arrays["offsets"]),
                          arrays["labels"].tolist())
        return out

    return run


def test_csv_quoted_fields_and_line_breaks_are_read_as_csv_reads_them(run_load, tmp_path, capsys):
    rows = labelled_rows(10, others=["neutral", "neutral", "mixed"])
    rows[0] = (0, 'Broke after a week, "sturdy" my foot.\nSecond line.', "negative")
    path = write_csv(tmp_path / "data/external/reviews.csv", rows)
    out = run_load(path, test_size=0.2, seed=3)
    texts = dict((text, label) for split in out.values() for text, label in zip(*split))
    assert texts['Broke after a week, "sturdy" my foot.\nSecond line.'] == 0
    assert len(texts) == 20  # the three others dropped, and said so
    assert "dropped 3 texts labelled neither positive nor negative: 'neutral' 2, 'mixed' 1" \
        in capsys.readouterr().out
    train_texts, train_labels = out["train"]
    test_texts, test_labels = out["test"]
    assert (len(train_texts), len(test_texts)) == (16, 4)
    assert sorted(test_labels) == [0, 0, 1, 1]  # stratified
    assert train_labels == sorted(train_labels)  # ordered by label, then as in the file
    in_file = [r[1] for r in rows]
    negatives = [t for t, label in zip(train_texts, train_labels) if label == 0]
    assert negatives == sorted(negatives, key=in_file.index)
    assert run_load(path, test_size=0.2, seed=3) == out  # seeded
    assert run_load(path, test_size=0.2, seed=4) != out


def test_tsv_by_suffix_or_delimiter_param_bom_and_numeric_labels(run_load, tmp_path):
    rows = [(i, make_review(np.random.default_rng(i), i % 2), [1, 2, 3, 4, 5][i % 5])
            for i in range(40)]
    header = ("id", "review", "stars")
    tsv = write_csv(tmp_path / "data/external/reviews.tsv", rows, header, "\t", "utf-8-sig")
    params = dict(label_column="stars", positive=[4, 5], negative=[1, "2"])
    out = run_load(tsv, **params)
    assert len(out["train"][0]) + len(out["test"][0]) == 32  # the 3s dropped
    txt = tsv.rename(tsv.with_suffix(".txt"))
    with pytest.raises(StageError, match="a .csv or .tsv file was expected.*load.delimiter"):
        run_load(txt, **params)
    assert run_load(txt, delimiter="\t", **params) == out


def test_a_separate_test_file(run_load, tmp_path):
    train = write_csv(tmp_path / "data/external/train.csv", labelled_rows(8, seed=1))
    test = write_csv(tmp_path / "data/external/test.csv", labelled_rows(3, seed=2))
    out = run_load(train, test)
    assert len(out["train"][0]) == 16 and out["test"][1] == [0, 0, 0, 1, 1, 1]
    assert out["test"][0][0] == labelled_rows(3, seed=2)[0][1]


def test_folders_named_by_label(run_load, tmp_path, capsys):
    root = tmp_path / "data/external/texts"
    rng = np.random.default_rng(0)
    for name, label, count in (("good", 1, 6), ("bad", 0, 6), ("meh", None, 2)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            text = make_review(rng, label) if label is not None else "so so"
            (root / name / f"{i}.txt").write_text(text, encoding="utf-8")
    (root / "good/10.txt").write_text("Great fun, ten out of ten", encoding="utf-8")
    out = run_load(root, source="folder", positive=["good"], negative=["bad"], test_size=0.25)
    assert len(out["train"][0]) == 10 and len(out["test"][0]) == 3
    printed = capsys.readouterr().out
    assert "dropped 2 texts labelled neither positive nor negative: 'meh' 2" in printed
    # With a test folder of its own, all of `root` is training data, in the order of the
    # files' names: 9.txt before 10.txt.
    for name in ("good", "bad"):
        (tmp_path / "data/external/test" / name).mkdir(parents=True)
        (tmp_path / "data/external/test" / name / "1.txt").write_text(f"{name} test")
    everything = run_load(root, tmp_path / "data/external/test", source="folder",
                          positive=["good"], negative=["bad"])
    assert everything["train"][0][-1] == "Great fun, ten out of ten"
    assert everything["test"][0] == ["bad test", "good test"]


def test_the_aclimdb_layout_as_a_folder_source_with_its_own_test_part(run_load, tmp_path):
    from conftest import write_aclimdb
    folder = write_aclimdb(tmp_path / "data/external", per_class=3)
    (folder / "train/unsup").mkdir()
    (folder / "train/unsup/0_0.txt").write_bytes(b"\xff not even text")  # counted, not read
    out = run_load(folder, source="folder", positive=["pos"], negative=["neg"])
    assert out["train"][1] == out["test"][1] == [0, 0, 0, 1, 1, 1]


BAD_CSV = [
    # (what, file bytes, params, the error's words)
    ("not utf-8",
     "id,review,sentiment\n1,fine,positive\n2,très mauvais,negative\n".encode("cp1252"),
     {}, r"reviews.csv, line 3, is not valid utf-8 text .*set load.encoding"),
    ("missing column", b"id,text,label\n1,fine,positive\n",
     {}, "has no column 'review' \\(load.text_column\\); its columns are 'id', 'text', 'label'"),
    ("other labels refused", b"id,review,sentiment\n1,a,positive\n2,b,negative\n3,c,neutral\n"
     b"4,d,neutral\n5,e,Positive\n", {"other_labels": "error"},
     "3 texts have labels in neither load.positive nor load.negative: 'neutral' \\(2, first at "
     ".*reviews.csv, line 4\\), 'Positive' \\(1, first at .*line 6\\)"),
    ("one class", b"id,review,sentiment\n1,a,positive\n2,b,positive\n3,c,neutral\n",
     {}, "no negative texts; the labels found are 'positive' \\(2\\), 'neutral' \\(1\\)"),
    ("empty text", b'id,review,sentiment\n1,a,positive\n2,"  ",negative\n3,b,negative\n',
     {}, "1 texts are empty \\(.*reviews.csv, line 3\\)"),
    ("too many fields", b"id,review,sentiment\n1,a,positive\n2,good, cheap,positive\n",
     {}, "reviews.csv, line 3: 4 fields, but the header has 3; a field with ','"),
    ("too few fields", b'id,review,sentiment\n1,"two\nlines",positive\n2,b\n',
     {}, "reviews.csv, line 4: 2 fields, but the header has 3"),
    ("first data row", b"id,review,sentiment\n1,good, cheap,positive\n2,b,negative\n",
     {}, "reviews.csv, line 2: 4 fields, but the header has 3"),
    ("a quote that never closes", b'id,sentiment,review\n1,positive,good\n2,negative,"never '
     b'closes\n3,positive,fine\n4,negative,dull\n', {},
     "reviews.csv, line 3: a quote opened on this line never closes"),
    ("a quote that closes rows later", b'id,sentiment,review\n1,positive,good\n2,negative,"opens'
     b'\n3,positive,fine\n4,negative,dull\n5,positive,closes"\n6,negative,bad\n', {},
     "reviews.csv, line 3: a quote opened on this line closes only on line 6"),
    ("text after a closing quote", b'id,sentiment,review\n1,positive,"a "quoted" word"\n', {},
     "reviews.csv, line 2: ',' expected after '\"'; a quote inside a quoted field must be "
     "doubled"),
    ("a repeated column", b"review,sentiment,review\n1,positive,good\n2,negative,bad\n", {},
     "reviews.csv: the header names 'review' more than once"),
    ("semicolons", b"id;review;sentiment\n1;good;positive\n2;bad;negative\n", {},
     "has no column 'review' in a header split on ',', but its header splits on ';': set "
     "load.delimiter: ';'"),
    ("tabs in a .csv", b"id\treview\tsentiment\n1\tgood\tpositive\n", {},
     r"its header splits on '\\t': set load.delimiter: '\\t'"),
    ("gzip", gzip.compress(b"id,review,sentiment\n1,good,positive\n"), {},
     "reviews.csv is compressed \\(gzip\\): gunzip it first"),
    ("zip", b"PK\x03\x04" + bytes(40), {}, "reviews.csv is compressed \\(zip\\): unzip it first"),
    ("empty file", b"", {}, "reviews.csv is empty: it needs a header row"),
    ("header only", b"id,review,sentiment\n", {}, "has a header row but no rows of data"),
    ("unknown encoding", b"id,review,sentiment\n", {"encoding": "utf-9"},
     "'load.encoding' is 'utf-9' in params.yaml; it must be a Python codec name"),
]


@pytest.mark.parametrize("what, content, params, message", BAD_CSV, ids=[c[0] for c in BAD_CSV])
def test_bad_csv_is_named_and_nothing_is_written(run_load, tmp_path, what, content, params,
                                                 message):
    path = tmp_path / "data/external/reviews.csv"
    path.write_bytes(content)
    with pytest.raises(StageError, match=message):
        run_load(path, **params)
    assert not (tmp_path / "data/raw").exists()


def test_a_byte_order_mark_decides_the_encoding(run_load, tmp_path):
    """UTF-16 with its mark (a spreadsheet's "Unicode text") and UTF-8 with one, the mark
    before the first column's name, read as the same texts as plain UTF-8."""
    header = ("review", "id", "sentiment")  # the mark would sit before "review"
    rows = [(text, i, label) for i, text, label in labelled_rows(6)]
    plain = run_load(write_csv(tmp_path / "data/external/plain.csv", rows, header))
    for encoding in ("utf-8-sig", "utf-16"):
        path = write_csv(tmp_path / f"data/external/{encoding}.csv", rows, header,
                         encoding=encoding)
        assert run_load(path) == plain, encoding


def test_the_training_file_by_another_name_is_no_test_set(run_load, tmp_path, capsys):
    """load.test_path naming load.path's file by another path (absolute, ./, a symlink)
    holds out load.test_size as the same path does, and says so: never a test set that
    is the training set."""
    path = write_csv(tmp_path / "data/external/reviews.csv", labelled_rows(10))
    expected = run_load("data/external/reviews.csv", test_size=0.2)
    (tmp_path / "data/external/link.csv").symlink_to(path)
    for other in (path, "data/external/link.csv", "./data/external/reviews.csv"):
        assert run_load("data/external/reviews.csv", other, test_size=0.2) == expected, other
        said = "is load.path data/external/reviews.csv by another name"
        assert (said in capsys.readouterr().out) == (other != "./data/external/reviews.csv")


def test_a_test_file_whose_columns_differ_names_both_files(run_load, tmp_path):
    train = write_csv(tmp_path / "data/external/train.csv", labelled_rows(4))
    test = write_csv(tmp_path / "data/external/test.csv", labelled_rows(2), ("id", "text", "label"))
    with pytest.raises(StageError, match="test.csv has no column 'review' \\(load.text_column\\), "
                                         "which .*train.csv has.*give both files the same header"):
        run_load(train, test)


def test_csv_data_with_the_imdb_archive_as_its_test_path(run_load, tmp_path):
    """The likely first mistake: load.source csv, load.test_path left at the IMDB archive."""
    path = write_csv(tmp_path / "data/external/reviews.csv", labelled_rows(4))
    (tmp_path / "data/external/aclImdb.tar.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(StageError, match="load.test_path is data/external/aclImdb.tar.gz, not a "
                                         ".csv or .tsv file: set it to load.path"):
        run_load(path, "data/external/aclImdb.tar.gz")


def test_labels_that_differ_only_in_case_or_spaces_are_named(run_load, tmp_path, capsys):
    """Matching stays exact, but the drop line asks whether 'Positive ' meant 'positive'."""
    rows = labelled_rows(6) + [(50 + i, "Loved it", "Positive ") for i in range(3)]
    run_load(write_csv(tmp_path / "data/external/reviews.csv", rows))
    assert "dropped 3 texts labelled neither positive nor negative: 'Positive' 3: did you " \
        "mean 'positive'?" in capsys.readouterr().out


def test_a_folder_without_texts(run_load, tmp_path):
    (tmp_path / "data/external/texts/good").mkdir(parents=True)
    (tmp_path / "data/external/texts/good/notes.md").write_text("not a .txt")
    with pytest.raises(StageError, match="texts/ has no .txt files in folders named by label"):
        run_load(tmp_path / "data/external/texts", source="folder")
    assert not (tmp_path / "data/raw").exists()


def test_a_test_file_whose_labels_differ_in_kind(run_load, tmp_path):
    train = write_csv(tmp_path / "data/external/train.csv", labelled_rows(4))
    test = write_csv(tmp_path / "data/external/test.csv",
                     [(i, "text", str(i % 2)) for i in range(6)])
    with pytest.raises(StageError, match="test.csv's labels differ from .*train.csv's: it has "
                                         "'0', '1', which the training data has not"):
        run_load(train, test)
    assert not (tmp_path / "data/raw").exists()


def test_too_large_a_test_size_or_a_source_with_its_own_test_set(run_load, tmp_path):
    path = write_csv(tmp_path / "data/external/reviews.csv", labelled_rows(2))
    with pytest.raises(StageError, match="load.test_size=0.9 gives 4 of the 4 labelled texts"):
        run_load(path, test_size=0.9)
    with pytest.raises(StageError, match="load.source aclimdb brings its own test reviews"):
        run_load(path, tmp_path / "other.csv", source="aclimdb")


def readme_example_params():
    """The `load:` block the README's "Your own data" section tells a user to write."""
    from conftest import ROOT
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Your own data", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)


@pytest.mark.slow
def test_the_pipeline_on_a_csv(tmp_path):
    """The README's example on its shipped CSV: one edited row reruns load onward, a new
    train.* value reruns train onward only, and predict reads the model."""
    from conftest import ROOT
    project = make_project(tmp_path / "repo")
    example = readme_example_params()
    params = project.params
    for block, values in example.items():
        params[block].update(values)
    params["train"]["epochs"] = 2
    project.write_params(params)
    target = project.path / params["load"]["path"]
    target.write_bytes((ROOT / "examples/product_reviews.csv").read_bytes())
    project.dvc("add", "-q", params["load"]["path"])
    ran, result = project.repro()
    assert ran == ["load", "vectorize", "split", "train", "curves", "evaluate"], result.stdout
    assert "dropped" in result.stdout  # the example's neutral reviews
    metrics = json.loads((project.path / "reports/metrics.json").read_text())
    assert 0 < metrics["majority_accuracy"] < 1 and "balanced_accuracy" in metrics
    vocab = json.loads((project.path / "data/vectors/vocab.json").read_text())
    assert vocab["standardize"] == "unicode" and "ça" in vocab["terms"]
    assert not any(mark in term for term in vocab["terms"] for mark in "¡!“—.,")
    assert "br" not in vocab["terms"]  # <br /> is markup, dropped
    project.commit("on the csv")

    project.set_param("train.epochs", 3)
    assert project.repro()[0] == ["train", "curves", "evaluate"]

    rows = target.read_text(encoding="utf-8").splitlines(keepends=True)
    rows[5] = rows[5].replace("e", "E", 1)
    target.write_text("".join(rows), encoding="utf-8")
    project.dvc("add", "-q", params["load"]["path"])
    ran, _ = project.repro()
    assert ran[0] == "load"

    answer = project.run(sys.executable, "-m", "stages.predict", "--json", "¡Genial! Works great")
    [prediction] = json.loads(answer.stdout)
    assert 0 <= prediction["probability"] <= 1
    project.dvc("plots", "show", "-o", "plots_page")
    assert (project.path / "plots_page/index.html").is_file()

    # The other encodings, as an experiment; and the data travels with `dvc push`.
    ran = project.dvc("exp", "run", "-S", "vectorize.mode=tf_idf", "-S", "vectorize.ngrams=2")
    assert "Running stage 'vectorize'" in ran.stdout and "Running stage 'load'" not in ran.stdout
    project.dvc("remote", "add", "-d", "--local", "team", str(tmp_path / "remote"))
    project.dvc("push")
    record = project.path / f"{params['load']['path']}.dvc"
    md5 = yaml.safe_load(record.read_text())["outs"][0]["md5"]
    assert (tmp_path / "remote/files/md5" / md5[:2] / md5[2:]).is_file()

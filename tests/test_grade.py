"""Grading: the grader evaluates each exercise's named answer itself, in its own process,
after the notebook ran in its own folder. What the student's kernel prints or logs never
counts: brute force over check(), a forged log line, a replaced check and a hard-coded
literal score zero; an honest notebook scores full marks. Tiny synthetic notebooks only."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_notebook

from cnncourse.exercises.grade import NotebookResult, grade, run_notebook

pytest.importorskip("nbformat")  # grading runs notebooks: nbformat + nbclient
pytest.importorskip("nbclient")
pytest.importorskip("cloudpickle")

TIMEOUT = 120  # seconds per notebook: generous, the machine may be shared
RF = "pool-receptive-field-function"
RF_SOLUTION = (
    "def receptive_field(layers):\n"
    "    field, jump = 1, 1\n"
    "    for kernel, stride in layers:\n"
    "        field += (kernel - 1) * jump\n"
    "        jump *= stride\n"
    "    return field\n"
    f'check("{RF}", receptive_field)'
)
# The chapter's own cases, answered from a lookup table: right on every case check() tries.
RF_LITERAL = (
    "from cnncourse.exercises.checks.pooling import FUNCTION_CASES\n"
    "_table = {c: f for c, f in zip(FUNCTION_CASES, (3, 5, 10, 27, 26, 15, 3))}\n"
    "def receptive_field(layers):\n"
    "    return _table.get(tuple(map(tuple, layers)), 1)\n"
    f'check("{RF}", receptive_field)'
)
HONEST = (
    "def dense_params(i, o):\n    return i * o + o\ncheck('why-params-dense', dense_params)",
    "def conv_params(i, o, k):\n    return i * o * k * k + o\ncheck('why-params-conv', conv_params)",
    "unshuffle_weight = lambda weight, perm: weight[:, perm]",
    "def flatten_size(height, width):\n    return 16 * (height // 4) * (width // 4)",
    "def pool_output_shape(shape, k, s):\n"
    "    n, c, h, w = shape\n"
    "    return (n, c, (h - k) // s + 1, (w - k) // s + 1)",
    "merged_kernel_size = lambda kernel_sizes: 1 + sum(k - 1 for k in kernel_sizes)",
    "def vgg_receptive_field(convs_per_block):\n"
    "    field, jump = 1, 1\n"
    "    for convs in convs_per_block:\n"
    "        field, jump = field + (2 * convs + 1) * jump, 2 * jump\n"
    "    return field",
    "def max_pool_relu(z, k):\n    n, c, h, w = z.shape\n    z = z[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k)\n    return z.max(axis=(3, 5)).clip(min=0)",
    RF_SOLUTION,
    # a trained model, pickled from the kernel and measured by the grader on fresh images
    "import torch\nfrom torch import nn\nfrom cnncourse import data\n"
    "x, y = data.to_tensors(data.load('fashion_mnist', 'train').subset(5000, seed=3))\n"
    "torch.manual_seed(0)\n"
    "avg_model = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(196, 10))\n"
    "opt = torch.optim.Adam(avg_model.parameters(), lr=0.05)\n"
    "for _ in range(60):\n"
    "    opt.zero_grad()\n"
    "    nn.functional.cross_entropy(avg_model(x.float() / 255), y).backward()\n"
    "    opt.step()",
    # the chapter's own state that the read and experiment exercises are checked against
    "import pandas as pd\n"
    "stability = pd.DataFrame({'max pooling': [0.9, 0.8, 0.7], 'stride 2': [0.8, 0.6, 0.5]},\n"
    "                         index=['shift 1', 'shift 2', 'shift 3'])\n"
    "torch.manual_seed(1)\n"
    "trained = {name: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),\n"
    "                               nn.Flatten(), nn.Linear(4 * 13 * 13, 10))\n"
    "           for name in ('max pooling', 'stride 2')}",
    "from cnncourse import models, train\n"
    "shuffled_test = data.load('fashion_mnist', 'test').subset(300, seed=0)\n"
    "cnn = models.build_model('tiny')\n"
    "results = pd.DataFrame({'original pixels': [0.8, 0.85], 'shuffled pixels': [0.8, 0.6]},\n"
    "                       index=['MLP', 'tiny CNN'])\n"
    "results['change'] = results['shuffled pixels'] - results['original pixels']",
    "cnn_shuffle_change = results.loc['tiny CNN', 'change']\n"
    "cnn_on_shuffled_test = train.evaluate(cnn, shuffled_test)['accuracy']",
    "strided_kept_at_2 = stability.loc['shift 2', 'stride 2']",
    "from cnncourse.exercises.checks.pooling import kept_under_shift\n"
    "lead_at_shift_5 = (kept_under_shift(trained['max pooling'], 5)\n"
    "                   - kept_under_shift(trained['stride 2'], 5))",
)


@pytest.fixture
def attacks(tmp_path) -> Path:
    folder = tmp_path / "submissions"
    folder.mkdir()
    write_notebook(folder / "honest.ipynb", *HONEST)
    write_notebook(  # loops over candidates until check() passes, keeps no named answer
        folder / "looper.ipynb",
        "for a in range(200_000):\n"
        "    if check('why-params-dense', a).passed:\n"
        "        break\n"
        "why_params_conv = 0\n"
        "for why_params_conv in range(1000):\n"
        "    if check('why-params-conv', why_params_conv).passed:\n"
        "        break\n"
        "why_params_conv = 'found it'",
    )
    write_notebook(  # writes passing records wherever a log might be read
        folder / "forger.ipynb",
        "import json, os\n"
        "line = json.dumps({'id': 'why-params-dense', 'status': 'pass', 'points': 1.0,"
        " 'max_points': 1.0})\n"
        "for path in (os.environ.get('CNNCOURSE_GRADING_LOG'), 'grading.jsonl'):\n"
        "    if path:\n"
        "        open(path, 'a').write(line + '\\n')\n"
        "print('cnncourse-grades:' + json.dumps([json.loads(line)]))",
    )
    write_notebook(  # replaces check, in the kernel and in the package
        folder / "replacer.ipynb",
        "import cnncourse.exercises as ex, cnncourse.exercises.registry as reg\n"
        "always = lambda i, a: reg.Verdict(i, 'pass', 'ok', 1.0, 1.0)\n"
        "check = ex.check = reg.check = always\n"
        "reg.evaluate = lambda ex, load: {'id': ex.id, 'status': 'pass', 'points': 9.0,"
        " 'max_points': 1.0, 'message': ''}\n"
        "why_params_dense = why_params_conv = 'x'\n"
        "check('why-params-dense', why_params_dense)",
    )
    write_notebook(folder / "literal.ipynb", RF_LITERAL)
    return folder


def test_attacks_score_zero_and_an_honest_notebook_full_marks(attacks, tmp_path):
    seen: list[NotebookResult] = []
    table = grade(
        attacks, tmp_path / "g.csv", timeout=TIMEOUT, chapter_timeout=TIMEOUT, progress=seen.append
    ).set_index("student")
    exercises = [c for c in table.columns if c not in ("total", "status")]
    assert len(exercises) == 14  # every exercise of both chapters named by any notebook
    assert (table["status"] == "ok").all(), table["status"].to_dict()
    honest = {r.path.stem: r for r in seen}["honest"]
    assert table.loc["honest", "total"] == 4 + 1 + 2 + 1 + 1 + 1 + 2 + 2 + 3 + 1 + 2, [
        v for v in honest.verdicts if v["points"] == 0
    ]
    assert table.loc["honest", exercises].gt(0).all()
    for attacker in ("looper", "forger", "replacer", "literal"):
        assert table.loc[attacker, "total"] == 0, (attacker, table.loc[attacker].to_dict())
    literal = next(r for r in seen if r.path.stem == "literal")
    assert literal.final[RF]["status"] == "fail"  # the lookup passed check(), not the grader


def test_each_notebook_runs_in_its_own_folder_and_jobs_do_not_change_the_table(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    record = tmp_path / "cwds.txt"
    for name in ("ann", "ben", "cat"):
        write_notebook(
            folder / f"{name}.ipynb",
            f"import os\nopen({str(record)!r}, 'a').write(os.getcwd() + '\\n')\n"
            "print(sorted(os.listdir('.')))",
            *(HONEST[:2] if name != "ben" else ("why_params_dense = 1",)),
        )
    serial = grade(folder, tmp_path / "a.csv", timeout=TIMEOUT, chapter_timeout=TIMEOUT, jobs=1)
    cwds = record.read_text().split()
    assert len(set(cwds)) == 3 and str(folder) not in cwds
    assert not any(Path(c).exists() for c in cwds)  # removed after grading
    parallel = grade(folder, tmp_path / "b.csv", timeout=TIMEOUT, chapter_timeout=TIMEOUT, jobs=3)
    pd.testing.assert_frame_equal(serial, parallel)
    assert serial.set_index("student")["total"].to_dict() == {"ann": 2, "ben": 0, "cat": 2}


def test_a_notebook_sees_only_its_own_copy(tmp_path):
    nb = write_notebook(tmp_path / "x.ipynb", "import os\nlisting = sorted(os.listdir('.'))")
    (tmp_path / "other_student.ipynb").write_text("{}")
    support = tmp_path / "data.csv"
    support.write_text("1,2\n")
    result = run_notebook(nb, timeout=TIMEOUT, support=[support], keep_workdir=True)
    try:
        assert result.status == "ok" and result.workdir != tmp_path
        assert sorted(p.name for p in result.workdir.iterdir()) == ["data.csv", "x.ipynb"]
    finally:
        import shutil

        shutil.rmtree(result.workdir, ignore_errors=True)


def test_statuses_and_partial_credit(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    write_notebook(
        folder / "carol.ipynb", "def dense_params(i, o):\n    return i * o + o", "1 / 0"
    )
    conv = "def conv_params(i, o, k):\n    return i * o * k * k + o"
    write_notebook(folder / "dave.ipynb", conv, "while True:\n    pass")
    write_notebook(folder / "ed.ipynb", conv, "import os\nos._exit(1)")
    (folder / "erin.ipynb").write_text("{ this is not a notebook")
    (folder / "notes.txt").write_text("not a submission")
    table = grade(
        folder,
        tmp_path / "g.csv",
        timeout=TIMEOUT,
        chapter_timeout=5,
        chapters=["why_convolutions"],
    )
    rows = table.set_index("student")
    assert rows.loc["carol", "status"] == "error: ZeroDivisionError: division by zero"
    assert rows.loc["carol", "why-params-dense"] == 1  # evaluated on what it defined
    assert rows.loc["dave", "status"].startswith("timeout: cell 3 (chapter cell: while True:)")
    assert rows.loc["dave", "why-params-conv"] == 1  # interrupted, then evaluated
    assert rows.loc["ed", "status"].startswith("crashed: the kernel died in cell 3")
    assert rows.loc["ed", "total"] == 0  # a dead kernel leaves nothing to evaluate
    assert rows.loc["erin", "status"].startswith("invalid notebook: NotJSONError")
    assert rows.loc["notes.txt", "status"] == "skipped: not a notebook"


def test_run_notebook_reads_myst_markdown(tmp_path):
    md = tmp_path / "chapter.md"
    md.write_text(
        "---\nkernelspec:\n  name: python3\n  display_name: Python 3\n  language: python\n---\n"
        "# A chapter\n\n```{code-cell} ipython3\nfrom cnncourse.exercises import check\n"
        "def conv_params(i, o, k):\n    return i * o * k * k + o\n"
        'check("why-params-conv", conv_params)\n```\n'
    )
    result = run_notebook(md, timeout=30)
    assert result.status == "ok"
    assert result.points == {
        "why-params-conv": 1.0,
        "why-params-dense": 0.0,
        "why-flatten-size": 0.0,
        "why-shuffle-pixels": 0.0,
        "why-read-change": 0.0,
        "why-cnn-shuffled-test": 0.0,
    }
    assert json.dumps(result.verdicts)  # plain records


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        grade(tmp_path / "missing", tmp_path / "g.csv")
    with pytest.raises(ValueError, match="no .ipynb files"):
        grade(tmp_path, tmp_path / "g.csv")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        run_notebook(tmp_path / "x.ipynb", timeout=0)
    write_notebook(tmp_path / "a.ipynb")
    with pytest.raises(ValueError, match="jobs must be"):
        grade(tmp_path, tmp_path / "g.csv", jobs=0)
    with pytest.raises(ValueError, match="has no exercises"):
        grade(tmp_path, tmp_path / "g.csv", chapters=["nope"])


@pytest.mark.parametrize(("jobs", "side_by_side"), [(1, 1), (2, 2), (4, 3)])
def test_notebooks_graded_side_by_side_share_the_cores(tmp_path, monkeypatch, jobs, side_by_side):
    """``jobs`` is honoured, and each of the kernels running at once gets its share of
    the cores (no cap when one runs alone)."""
    from cnncourse.exercises import grade as grading

    for name in ("a", "b", "c"):
        write_notebook(tmp_path / f"{name}.ipynb", "x = 1")
    seen = []

    def fake_run(path, **options):
        seen.append(options["threads"])
        return NotebookResult(Path(path), "ok")

    monkeypatch.setattr(grading, "run_notebook", fake_run)
    monkeypatch.setattr(grading.os, "cpu_count", lambda: 6)
    grade(tmp_path, tmp_path / "grades.csv", jobs=jobs, bar=False)
    expected = None if side_by_side == 1 else 6 // side_by_side
    assert seen == [expected] * 3


def test_a_thread_cap_never_overrides_the_users_setting(monkeypatch):
    from cnncourse.exercises.grade import _thread_capped_env

    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    env = _thread_capped_env(2)
    assert env["OMP_NUM_THREADS"] == "5" and env["TF_NUM_INTRAOP_THREADS"] == "2"
    assert "TF_NUM_INTRAOP_THREADS" not in _thread_capped_env(None)

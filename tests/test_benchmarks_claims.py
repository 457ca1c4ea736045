"""``make claims`` (benchmarks/claims.py): option parsing, the report, and the seed hook end to end on one
tiny synthetic notebook (the lessons themselves are never executed here)."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "claims.py"
_spec = importlib.util.spec_from_file_location("claims", SCRIPT)
claims = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(claims)


@pytest.mark.parametrize(
    "text, expected",
    [("0-9", list(range(10))), ("3", [3]), ("0-2,7", [0, 1, 2, 7]), ("1, 2", [1, 2]), ("2,0-2", [2, 0, 1])],
)
def test_integer_lists_and_ranges_parse(text, expected):
    assert claims.parse_int_list("--seeds", text) == expected


@pytest.mark.parametrize(
    "text, match", [("a", "must look like"), ("1-", "must look like"), ("5-2", "runs backwards")]
)
def test_bad_integer_lists_name_the_option(text, match):
    with pytest.raises(ValueError, match=rf"^--seeds.*{match}"):
        claims.parse_int_list("--seeds", text)


def test_zero_threads_is_refused():
    with pytest.raises(ValueError, match="--threads must be thread counts >= 1"):
        claims.parse_threads("0,1")


def test_notebooks_are_chosen_by_prefix(tmp_path):
    for name in ("05_prune", "07_formats", "09_trends"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / f"{name}.ipynb")
    assert [p.stem for p in claims.select_notebooks("09,05", tmp_path)] == ["09_trends", "05_prune"]
    assert len(claims.select_notebooks("", tmp_path)) == 3
    with pytest.raises(ValueError, match="no notebook starts with '11'.*05_prune"):
        claims.select_notebooks("11", tmp_path)


def test_every_lesson_is_selectable():
    lessons = claims.select_notebooks("")
    assert lessons and all(p.suffix == ".ipynb" for p in lessons)


def test_failing_line_is_the_one_ipython_marks():
    traceback = (
        "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m\n"
        "\x1b[0;31mAssertionError\x1b[0m                            Traceback (most recent call last)\n"
        "Cell \x1b[0;32mIn[3], line 2\x1b[0m\n"
        "\x1b[1;32m      1\x1b[0m x \x1b[38;5;241m=\x1b[39m \x1b[38;5;241m1\x1b[39m\n"
        "\x1b[0;32m----> 2\x1b[0m \x1b[38;5;28;01massert\x1b[39;00m x "
        "\x1b[38;5;241m>\x1b[39m \x1b[38;5;241m2\x1b[39m\n"
    )
    assert claims.failing_line(traceback, "x = 1\nassert x > 2") == "assert x > 2"
    assert claims.failing_line("", "x = 1\nassert x > 2\n") == "assert x > 2"


def _runs():
    fail = claims.Failure("05_prune", 1, 2, 14, "AssertionError", "assert gap < 0.5", "gap 0.7 | points")
    return [
        claims.Run("05_prune", 0, 1, 10.0), claims.Run("05_prune", 0, 2, 9.0),
        claims.Run("05_prune", 1, 1, 10.0), claims.Run("05_prune", 1, 2, 11.0, [fail]),
        claims.Run("07_formats", 0, 1, 3.0), claims.Run("07_formats", 0, 2, 3.0),
        claims.Run("07_formats", 1, 1, 3.0),
        claims.Run("07_formats", 1, 2, 3.0, [claims.Failure("07_formats", 1, 2, 3, "NameError", "f()", "x")]),
    ]


def test_report_is_a_lesson_by_seed_and_threads_table_with_each_failure():
    report = claims.markdown_report(_runs(), [0, 1], [1, 2])
    assert "| lesson | K=0 T=1 | K=0 T=2 | K=1 T=1 | K=1 T=2 | passed |" in report
    assert "| 05_prune | pass | pass | pass | **FAIL** | 3/4 |" in report
    assert "| 07_formats | pass | pass | pass | **error** | 3/4 |" in report
    # the message's "|" is escaped so the table keeps its columns
    assert "| 05_prune | 1 | 2 | 14 | AssertionError | `assert gap < 0.5` | gap 0.7 \\| points |" in report
    assert "machine:" in report


def test_summary_groups_each_fragile_claim_with_the_runs_it_failed_in():
    text = claims.summary(_runs())
    assert text.splitlines()[0] == "6/8 runs passed in 52 s"
    claim = "05_prune cell 14 [AssertionError] assert gap < 0.5: gap 0.7 | points"
    assert f"{claim}  -- failed at K=1 T=2" in text


def test_a_clean_run_says_so():
    report = claims.markdown_report([claims.Run("07_formats", 0, 1, 1.0)], [0], [1])
    assert "None: every claim held in every run." in report


def test_seed_shift_reaches_the_kernel_and_a_failing_assert_is_reported(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("A claim that holds for one seed only."),
        nbformat.v4.new_code_cell("import os\nshift = int(os.environ['COURSE_SEED_OFFSET'])"),
        nbformat.v4.new_code_cell(
            "assert os.environ['OMP_NUM_THREADS'] == '1'\n"
            "assert os.environ['NBGRADER_EXECUTION'] == 'autograde'  # the checks raise as under nbgrader\n"
            "assert shift == 0, f'only seed 0 works, not {shift}'"
        ),
    ]
    nbformat.write(notebook, notebooks / "00_lucky.ipynb")
    out = tmp_path / "claims.md"
    status = claims.main(
        ["--seeds", "0-1", "--threads", "1", "--notebook-dir", str(notebooks), "--out", str(out)]
    )
    printed = capsys.readouterr().out
    assert status == 1
    assert "[1/2] 00_lucky K=0 T=1 ... pass" in printed and "[2/2] 00_lucky K=1 T=1 ... fail" in printed
    assert "1/2 runs passed" in printed
    report = out.read_text()
    assert "| 00_lucky | pass | **FAIL** | 1/2 |" in report
    claim = "`assert shift == 0, f'only seed 0 works, not {shift}'`"
    assert f"| 00_lucky | 1 | 1 | 2 | AssertionError | {claim} | only seed 0 works, not 1 |" in report


def test_make_bench_carries_the_last_claims_report(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_run", SCRIPT.parent / "run.py")
    bench_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_run)
    monkeypatch.setattr(bench_run, "CLAIMS", tmp_path / "claims.md")
    assert "Not measured yet: run `make claims`" in bench_run.claims_section()
    (tmp_path / "claims.md").write_text("# Claims\n\n| lesson | K=0 T=1 |\n\n## Failures\n\nNone.\n")
    section = bench_run.claims_section()
    assert section.startswith("## Claims under shifted seeds") and "| lesson | K=0 T=1 |" in section
    assert "\n### Failures" in section and "# Claims\n" not in section


# --- incremental runs: a lesson's hash and the record ---------------------------------------------


def _files(tmp_path):
    root = tmp_path / "kit"
    (root / "course_lib").mkdir(parents=True)
    (root / "course_lib" / "a.py").write_text("A = 1\n")
    (root / "course_lib" / "b.py").write_text("B = 2\n")
    notebook = root / "00_lesson.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), notebook)
    return root, notebook, ["course_lib/a.py", "course_lib/b.py"]


def test_a_lesson_hash_covers_its_notebook_and_every_module_it_ran(tmp_path):
    root, notebook, modules = _files(tmp_path)
    first = claims.lesson_hash(notebook, modules, root)
    assert first == claims.lesson_hash(notebook, modules[::-1], root)  # order does not matter
    assert first != claims.lesson_hash(notebook, modules[:1], root)  # another set of modules
    (root / "course_lib" / "b.py").write_text("B = 3\n")
    second = claims.lesson_hash(notebook, modules, root)
    assert second != first  # a module the lesson ran changed
    (root / "course_lib" / "c.py").write_text("C = 4\n")
    assert claims.lesson_hash(notebook, modules, root) == second  # a module it never ran: no change
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 2")]), notebook)
    third = claims.lesson_hash(notebook, modules, root)
    assert third != second  # the notebook changed
    (root / "course_lib" / "a.py").unlink()
    assert claims.lesson_hash(notebook, modules, root) != third  # a module it ran is gone


def test_recorded_runs_are_kept_only_while_the_hash_holds_and_cover_what_is_asked(tmp_path):
    root, notebook, modules = _files(tmp_path)
    runs = [claims.Run(notebook.stem, k, t, 1.0, modules=modules) for k in (0, 1) for t in (1, 2)]
    entry = claims.record_entry(notebook, runs, root)
    assert entry["modules"] == modules and entry["hash"] == claims.lesson_hash(notebook, modules, root)
    kept = claims.unchanged_runs(notebook, entry, {(0, 1), (1, 2)}, root)
    assert [(r.seed, r.threads) for r in kept] == [(0, 1), (1, 2)]
    assert claims.unchanged_runs(notebook, entry, {(2, 1)}, root) is None  # never ran K=2
    assert claims.unchanged_runs(notebook, None, {(0, 1)}, root) is None  # never ran at all
    (root / "course_lib" / "a.py").write_text("A = 5\n")
    assert claims.unchanged_runs(notebook, entry, {(0, 1)}, root) is None  # the library changed
    unknown = claims.record_entry(notebook, [claims.Run(notebook.stem, 0, 1)], root)  # a run that died
    assert claims.unchanged_runs(notebook, unknown, {(0, 1)}, root) is None


def test_changed_reruns_only_a_lesson_whose_hash_changed(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name, code in (("00_kept", "import course_lib.core.seeds"), ("01_edited", "import course_lib.core")):
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
        nbformat.write(notebook, notebooks / f"{name}.ipynb")
    out = tmp_path / "claims.md"
    options = ["--seeds", "0", "--threads", "1", "--notebook-dir", str(notebooks), "--out", str(out)]
    assert claims.main(options) == 0
    record = json.loads((tmp_path / "claims.json").read_text())["lessons"]
    assert "course_lib/core/seeds.py" in record["00_kept"]["modules"]
    report = out.read_text()
    assert "## What each lesson ran" in report and f"`{record['00_kept']['hash']}`" in report
    capsys.readouterr()
    edited = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import course_lib.core\ny = 1")])
    nbformat.write(edited, notebooks / "01_edited.ipynb")
    assert claims.main([*options, "--changed"]) == 0
    printed = capsys.readouterr().out
    assert "00_kept: unchanged" in printed and "[1/1] 01_edited K=0 T=1 ... pass" in printed
    assert "| 00_kept | pass | 1/1 |" in out.read_text() and "| 01_edited | pass | 1/1 |" in out.read_text()


def test_report_only_runs_nothing_and_leaves_unrecorded_runs_blank(tmp_path, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(notebook, notebooks / "00_a.ipynb")
    out = tmp_path / "claims.md"
    options = ["--threads", "1", "--notebook-dir", str(notebooks), "--out", str(out)]
    assert claims.main(["--seeds", "0", *options]) == 0
    capsys.readouterr()
    assert claims.main(["--seeds", "0-1", "--report-only", *options]) == 0
    assert "K=" not in capsys.readouterr().out  # no run started
    assert "| 00_a | pass |  | 1/1 |" in out.read_text()  # K=1 was never run: a blank cell

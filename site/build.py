"""Build the course website: ``python site/build.py`` (or ``make site``) writes ``build/site/``.

1. Execute each lesson once with nbclient (tools/headless.py's client) into ``build/executed/`` (a
   lesson whose source has not changed since its last run is reused, unless ``--fresh``).
2. Make widgets static: a slider panel shows the output of its initial state, its controls' initial
   values and a note that moving them needs a live kernel; a progress bar shows its final text. No
   widget JavaScript is needed, so the site works from a plain folder with no CDN.
3. Lay out a Sphinx project in ``build/site-src/``: ``site/conf.py``, ``site/_static`` (with MathJax
   from ``site/node_modules``, installed by ``npm ci --prefix site``) and ``site/_templates``, the
   executed lessons under ``lessons/`` (every figure given its alt text from the lesson's takeaway),
   ``docs/*.md``, and a home page with the lesson map (README's columns, every notebook in
   ``notebooks/`` included).
4. ``sphinx-build -b html`` with MyST-NB (which does not execute anything again) into ``build/site/``.

Sphinx + MyST-NB install from PyPI and build offline; the Jupyter Book 2 / mystmd site build downloads
its theme at build time, which an offline classroom machine (or this kit's CI) cannot do.
"""

import argparse
import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from headless import lesson_client  # noqa: E402

SITE = ROOT / "site"
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CONTROLS = {"FloatSliderModel", "IntSliderModel", "FloatLogSliderModel", "SelectionSliderModel",
            "DropdownModel", "ToggleButtonsModel", "RadioButtonsModel", "CheckboxModel",
            "IntRangeSliderModel", "FloatRangeSliderModel", "SelectModel", "TextModel", "ButtonModel"}
LIVE_NOTE = ("Interactive: in JupyterLab, Binder or Colab these controls re-run the lesson's code. "
             "A web page has no kernel, so this shows them in their initial state.")


def source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def execute(source: Path, target: Path, allow_errors: bool = False, timeout: int = 600) -> float:
    """Run ``source`` top to bottom (in ``notebooks/``, as a student would) and write it to ``target``.

    A cell that fails stops the build, unless ``allow_errors``: then the page shows the error.
    """
    start = time.perf_counter()
    notebook = nbformat.read(source, as_version=4)
    client = lesson_client(notebook, source.parent, timeout, allow_errors=allow_errors)
    client.execute()
    errors = sum(o.get("output_type") == "error" for c in notebook.cells for o in c.get("outputs", []))
    notebook.metadata["course_site"] = {"source_sha256": source_hash(source), "errors": errors}
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return time.perf_counter() - start


def execute_all(sources, executed_dir: Path, fresh: bool, jobs: int, allow_errors: bool) -> dict[str, float]:
    """Execute the lessons that are not already executed from the same source; seconds for each run."""
    todo = []
    for source in sources:
        target = executed_dir / source.name
        if not fresh and target.exists():
            stored = json.loads(target.read_text(encoding="utf-8"))["metadata"].get("course_site", {})
            if stored.get("source_sha256") == source_hash(source) and not stored.get("errors"):
                continue
        todo.append((source, target))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:  # each lesson in a process of its own
        runs = {s.name: pool.submit(_execute_in_subprocess, s, t, allow_errors) for s, t in todo}
        return {name: run.result() for name, run in runs.items()}


def _execute_in_subprocess(source: Path, target: Path, allow_errors: bool) -> float:
    start = time.perf_counter()
    command = [sys.executable, __file__, "--execute", str(source), str(target)]
    command += ["--allow-errors"] if allow_errors else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{source.name} failed to run:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def _model(states: dict, ref: str) -> dict:
    return states.get(str(ref).removeprefix("IPY_MODEL_"), {})


def _walk(states: dict, model_id: str, seen=None):
    """The widget models under ``model_id``, depth first (children, then an Output's contents)."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in states:
        return
    seen.add(model_id)
    yield states[model_id]
    for child in states[model_id].get("state", {}).get("children", []):
        yield from _walk(states, str(child).removeprefix("IPY_MODEL_"), seen)


def _value(state: dict, model: dict) -> str:
    value = state.get("value")
    if model["model_name"] in ("DropdownModel", "ToggleButtonsModel", "RadioButtonsModel", "SelectModel",
                               "SelectionSliderModel") and "index" in state:
        labels = state.get("_options_labels", [])
        index = state["index"]
        value = labels[index] if isinstance(index, int) and index < len(labels) else value
    return f"{value:g}" if isinstance(value, float) else str(value)


def static_widget(model_id: str, states: dict) -> list[dict]:
    """Outputs that show the widget ``model_id`` as it stood when the lesson ran."""
    controls, texts, outputs, bars = [], [], [], []
    for model in _walk(states, model_id):
        name, state = model.get("model_name", ""), model.get("state", {})
        if name in CONTROLS:
            label = state.get("description") or name.removesuffix("Model")
            controls.append(f"<b>{html.escape(label)}</b> = {html.escape(_value(state, model))}")
        elif name == "HTMLModel" and state.get("value"):
            texts.append(state["value"])
        elif name == "FloatProgressModel" or name == "IntProgressModel":
            value, top = state.get("value", 0), state.get("max", 100)
            bars.append(f'<progress value="{value}" max="{top}"></progress>')
        elif name == "OutputModel":
            outputs.extend(state.get("outputs", []))
    shown = []
    if controls:
        note = (f'<div class="course-widget-note"><p>🎚 {" · ".join(controls)}</p>'
                f"<p><em>{html.escape(LIVE_NOTE)}</em></p></div>")
        shown.append({"output_type": "display_data", "metadata": {}, "data": {"text/html": note}})
    elif texts or bars:  # a progress bar: its final text
        line = " ".join(texts[:1] + bars + texts[1:])
        shown.append({"output_type": "display_data", "metadata": {},
                      "data": {"text/html": f'<div class="course-progress">{line}</div>'}})
    return shown + outputs


def make_widgets_static(notebook: dict) -> int:
    """Replace every widget view by its static rendering and drop the widget state; how many replaced."""
    states = notebook.get("metadata", {}).pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(output)
                continue
            replaced += 1
            outputs.extend(static_widget(view["model_id"], states))
        cell["outputs"] = outputs
    return replaced


TAKEAWAY = "**Takeaway:**"
# What of MathJax 3's es5/ folder the site serves: the TeX+MathML->CommonHTML bundle (assistive MathML
# included), its fonts, the TeX extensions it loads on demand, and the menu's accessibility tools.
MATHJAX_PARTS = ["tex-mml-chtml.js", "output/chtml", "input/tex/extensions", "a11y", "ui", "sre"]


def copy_mathjax(target: Path) -> None:
    """MathJax from site/node_modules (``npm ci --prefix site``), served by the site: offline maths."""
    source = SITE / "node_modules" / "mathjax" / "es5"
    if not (source / MATHJAX_PARTS[0]).exists():
        raise FileNotFoundError(f"MathJax is missing from {source}: run `npm ci --prefix site` "
                                "(make site and make test do) to install site/package-lock.json")
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / part, target / part)


def plain_text(markdown: str) -> str:
    """Markdown as one line of plain text, for an alt attribute: no emphasis, code or link marks."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # [text](url) -> text
    text = re.sub(r"[*_`#>]+", "", text)
    return " ".join(text.split())


def figure_alt(cells: list[dict], index: int) -> str:
    """The text alternative of the figures of code cell ``index``: what they show, in the lesson's own
    words. The lessons follow each figure with a "**Takeaway:**" line (docs/authoring.md), which says
    what the figure shows (its first sentence is the alt text); without one, the paragraph that
    discusses it, shortened."""
    following = next((c for c in cells[index + 1:] if c["cell_type"] == "markdown"), None)
    source = "".join(following["source"]).strip() if following else ""
    if source.startswith(TAKEAWAY):  # its first sentence: what the figure shows
        takeaway = plain_text(source.removeprefix(TAKEAWAY).split("\n\n")[0])
        return "Figure: " + re.split(r"(?<=[.!?])\s+(?=[A-Z])", takeaway, maxsplit=1)[0]
    discussion = textwrap.shorten(plain_text(source.split("\n\n")[0]), 300, placeholder=" ...")
    return f"Figure, discussed in the text after it: {discussion}" if discussion else "Figure"


def describe_figures(notebook: dict) -> int:
    """Give every code cell that shows an image its alt text (MyST-NB's cell metadata
    ``mystnb.image.alt``); how many cells got one."""
    cells, described = notebook["cells"], 0
    for index, cell in enumerate(cells):
        outputs = cell.get("outputs", []) if cell["cell_type"] == "code" else []
        if any(k.startswith("image/") for o in outputs for k in o.get("data", {})):
            options = cell.setdefault("metadata", {}).setdefault("mystnb", {}).setdefault("image", {})
            options["alt"] = figure_alt(cells, index)
            described += 1
    return described


def _readme_lesson_rows() -> dict[str, tuple[str, str]]:
    """README's lesson map: {notebook stem: (lecture section, you will...)}."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*\[(\d\d_\w+)\]\([^)]*\)\s*\|(.*)", line)
        if match:
            cells = [c.strip() for c in match.group(2).strip().strip("|").split("|")]
            rows[match.group(1)] = (cells[0] if cells else "", cells[1] if len(cells) > 1 else "")
    return rows


def _title(notebook: dict, fallback: str) -> str:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            first = "".join(cell["source"]).lstrip().split("\n", 1)[0]
            if first.startswith("# "):
                return first[2:].strip()
    return fallback


def home_page(lessons: list[tuple[str, str]]) -> str:
    """index.md: the site's own introduction, the lesson map, and the table of contents."""
    described = _readme_lesson_rows()
    rows = ["| lesson | lecture section | you will... |", "| --- | --- | --- |"]
    for stem, title in lessons:
        section, goal = described.get(stem, ("", ""))
        rows.append(f"| [{title}](lessons/{stem}.ipynb) | {section} | {goal} |")
    intro = (SITE / "index.md").read_text(encoding="utf-8")
    toc_lessons = "\n".join(f"lessons/{stem}" for stem, _ in lessons)
    docs = "\n".join(f"docs/{p.stem}" for p in _docs())
    return (
        intro.replace("{{ lesson_map }}", "\n".join(rows))
        + f"\n\n```{{toctree}}\n:caption: Lessons\n:hidden:\n\n{toc_lessons}\n```\n"
        + f"\n```{{toctree}}\n:caption: For teachers\n:hidden:\n\n{docs}\n```\n"
    )


# Teacher's material that a public site must not carry: model answers to exam questions. The site
# names them in words; they stay in the kit's docs/ folder.
NOT_PUBLISHED = ("question_bank",)


def _docs() -> list[Path]:
    order = ["teacher_guide", "benchmarks", "deployment", "authoring", "architecture"]
    rank = {name: i for i, name in enumerate(order)}
    published = [p for p in (ROOT / "docs").glob("*.md") if p.stem not in NOT_PUBLISHED]
    return sorted(published, key=lambda p: (rank.get(p.stem, len(order)), p.stem))


def unlink_unpublished(text: str) -> str:
    """``text`` with every Markdown link to a NOT_PUBLISHED doc turned into its words and where the
    file is: "[question bank](question_bank.md)" -> "question bank (docs/question_bank.md in the kit)"."""
    names = "|".join(map(re.escape, NOT_PUBLISHED))
    return re.sub(rf"\[([^\]]+)\]\((?:\.\./docs/|docs/)?({names})\.md\)", r"\1 (docs/\2.md in the kit)", text)


def lay_out(executed_dir: Path, src: Path) -> int:
    """Write the Sphinx project into ``src``; the number of widget views made static."""
    if src.exists():
        shutil.rmtree(src)
    (src / "lessons").mkdir(parents=True)
    (src / "docs").mkdir()
    shutil.copy(SITE / "conf.py", src / "conf.py")
    for folder in ("_static", "_templates"):
        shutil.copytree(SITE / folder, src / folder)
    copy_mathjax(src / "_static" / "mathjax")
    lessons, replaced = [], 0
    for path in sorted(executed_dir.glob("*.ipynb")):
        if not (NOTEBOOKS / path.name).exists():
            continue  # a lesson that was removed or renamed since it was executed
        notebook = json.loads(path.read_text(encoding="utf-8"))
        replaced += make_widgets_static(notebook)
        describe_figures(notebook)
        for cell in notebook["cells"]:  # the Colab set-up cell does nothing on a web page: leave it out
            if cell.get("id") == "colab-setup":
                cell.setdefault("metadata", {}).setdefault("tags", []).append("remove-cell")
        (src / "lessons" / path.name).write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
        lessons.append((path.stem, _title(notebook, path.stem)))
    for doc in _docs():
        text = doc.read_text(encoding="utf-8")
        text = re.sub(r"\]\(\.\./notebooks/(\d\d_\w+)\.ipynb", r"](../lessons/\1.ipynb", text)
        text = unlink_unpublished(text.replace("](../README.md)", "](../index.md)"))
        (src / "docs" / doc.name).write_text(text, encoding="utf-8")
    (src / "index.md").write_text(home_page(lessons), encoding="utf-8")
    return replaced


def build(out: Path = BUILD / "site", fresh: bool = False, jobs: int = 2, allow_errors: bool = False) -> dict:
    """Execute (or reuse), lay out and build the site; what was done and how long it took."""
    start = time.perf_counter()
    sources = sorted(NOTEBOOKS.glob("*.ipynb"))
    executed = execute_all(sources, BUILD / "executed", fresh, jobs, allow_errors)
    executed_s = time.perf_counter() - start
    src = BUILD / "site-src"
    widgets = lay_out(BUILD / "executed", src)
    if out.exists():
        shutil.rmtree(out)
    sphinx = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "--keep-going", str(src), str(out)]
    done = subprocess.run(sphinx, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"sphinx-build failed:\n{done.stdout}\n{done.stderr}")
    failing = [p.stem for p in sorted((BUILD / "executed").glob("*.ipynb"))
               if json.loads(p.read_text(encoding="utf-8"))["metadata"].get("course_site", {}).get("errors")]
    return {
        "executed": executed, "lessons_with_errors": failing, "execute_seconds": executed_s,
        "widgets_made_static": widgets,
        "pages": len(list(out.rglob("*.html"))), "seconds": time.perf_counter() - start,
        "warnings": done.stderr, "out": out,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Build the course website into build/site/.")
    parser.add_argument("--out", type=Path, default=BUILD / "site")
    parser.add_argument("--fresh", action="store_true", help="execute every lesson again")
    parser.add_argument("--jobs", type=int, default=2, help="lessons executed at once (default 2)")
    parser.add_argument("--allow-errors", action="store_true", help="publish a failing lesson with its error")
    parser.add_argument("--execute", nargs=2, type=Path, metavar=("SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute:  # one lesson, in a process of its own (what build() runs, `jobs` at a time)
        execute(*args.execute, allow_errors=args.allow_errors)
        return
    report = build(args.out, args.fresh, args.jobs, args.allow_errors)
    if report["warnings"]:
        print(report["warnings"], file=sys.stderr)
    ran = ", ".join(f"{k} {v:.0f} s" for k, v in report["executed"].items()) or "none (all reused)"
    print(f"executed: {ran}")
    if report["lessons_with_errors"]:
        print(f"lessons with errors: {', '.join(report['lessons_with_errors'])}")
    print(f"{report['pages']} pages in {report['out']} ({report['seconds']:.0f} s); "
          f"open {report['out'] / 'index.html'}")


if __name__ == "__main__":
    main()

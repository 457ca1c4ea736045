"""The course website (make site): built from executed lessons, opened in headless Chromium.

The build executes each lesson once into build/executed/ (about as long as nbval's run of the course;
an unchanged lesson executed earlier is reused) and runs Sphinx into build/site/. A lesson whose own
cells fail still gets its page here (with the error shown, and with no figure demanded of it): nbval
is the test of the lessons themselves; this one tests the website.
"""

import functools
import http.server
import importlib.util
import re
import threading
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest
from browser_helpers import launch_chromium, require_chromium

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = ROOT / "test-artifacts"

pytest.importorskip("myst_nb", reason='the site needs its extra: pip install -e ".[site]"')

spec = importlib.util.spec_from_file_location("course_site_build", ROOT / "site" / "build.py")
site_build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_build)


class Links(HTMLParser):
    """The href/src targets and the element ids of one page."""

    def __init__(self):
        super().__init__()
        self.targets, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key):
                self.targets.append(attrs[key])


def _parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


@pytest.fixture(scope="module")
def site():
    report = site_build.build(allow_errors=True)
    print(f"site: {report['pages']} pages in {report['seconds']:.0f} s "
          f"(executing {report['execute_seconds']:.0f} s; executed {sorted(report['executed'])})")
    return report


@pytest.fixture(scope="module")
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(site["out"]))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_every_lesson_and_the_teacher_pages_are_built(site):
    out = site["out"]
    for stem in LESSONS:
        assert (out / "lessons" / f"{stem}.html").exists(), stem
    for page in ("index", "docs/teacher_guide", "docs/benchmarks"):
        assert (out / f"{page}.html").exists(), page
    assert (out / ".nojekyll").exists()  # GitHub Pages serves _static/ as it is
    # model answers to exam questions stay in the kit, never on a public page
    assert not (out / "docs" / "question_bank.html").exists()
    assert not any("question_bank.html" in page.read_text(encoding="utf-8") for page in out.rglob("*.html"))


def test_links_to_unpublished_teacher_material_become_words():
    text = "a [question bank with answers](question_bank.md), the [guide](teacher_guide.md)"
    assert site_build.unlink_unpublished(text) == (
        "a question bank with answers (docs/question_bank.md in the kit), the [guide](teacher_guide.md)")
    assert "question_bank" not in [p.stem for p in site_build._docs()]


def test_no_internal_link_is_broken(site):
    out = site["out"]
    pages = {p: _parse(p) for p in out.rglob("*.html") if "_static" not in p.relative_to(out).parts}
    broken = []
    for page, links in pages.items():
        for target in links.targets:
            if urlparse(target).scheme or target.startswith(("//", "mailto:", "javascript:", "data:")):
                continue
            path, anchor = urldefrag(target)
            path = urlparse(path).path  # without ?v=... cache busters
            file = (page.parent / unquote(path)).resolve() if path else page
            if file.is_dir():
                file = file / "index.html"
            if not file.exists():
                broken.append(f"{page.relative_to(out)} -> {target}")
            elif anchor and file in pages and anchor not in pages[file].ids:
                broken.append(f"{page.relative_to(out)} -> {target} (no such anchor)")
    assert not broken, "\n".join(broken[:20])


def test_widgets_are_static_with_a_note_that_they_need_a_kernel(site):
    assert site["widgets_made_static"] > 0
    lesson = (site["out"] / "lessons" / f"{LESSONS[0]}.html").read_text(encoding="utf-8")
    assert "course-widget-note" in lesson and "no kernel" in lesson
    assert "widget-view+json" not in lesson  # no widget JavaScript (or CDN) needed


def test_the_site_in_a_browser_links_every_lesson_and_shows_their_figures(site, server):
    require_chromium()
    failing = set(site["lessons_with_errors"])
    healthy = [stem for stem in LESSONS if stem not in failing]
    assert healthy, f"every lesson failed to run: {sorted(failing)}"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        # the site is served from this machine; anything else (a CDN) is refused, as on a classroom LAN
        page.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())
        try:
            page.goto(f"{server}/index.html")
            hrefs = page.eval_on_selector_all("article a[href]", "els => els.map(e => e.href)")
            for stem in LESSONS:
                assert urljoin(f"{server}/", f"lessons/{stem}.html") in hrefs, f"home page lacks {stem}"
            page.goto(f"{server}/lessons/{healthy[0]}.html")
            page.locator("article img").first.scroll_into_view_if_needed()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "site_lesson.png"))
            for stem in LESSONS:
                page.goto(f"{server}/lessons/{stem}.html")
                assert page.locator("article h1").count() == 1, f"{stem}: no lesson page"
                if stem in failing:
                    print(f"{stem} raised errors when it ran (see nbval); its figures are not checked here")
                    continue
                page.wait_for_load_state("load")
                images = page.locator("article img")
                assert images.count() > 0, f"{stem} shows no figure"
                broken = page.eval_on_selector_all(
                    "article img", "els => els.filter(e => !(e.complete && e.naturalWidth > 0)).length"
                )
                assert broken == 0, f"{stem}: {broken} figures did not load"
        finally:
            browser.close()
    assert (ARTIFACTS / "site_lesson.png").stat().st_size > 10_000



# --- accessibility ----------------------------------------------------------------------------------

AXE = ROOT / "site" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]  # WCAG 2.0 and 2.1, levels A and AA
MATHJAX_READY = "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
ASSISTIVE_MATHML = "() => document.querySelectorAll('mjx-assistive-mml math').length > 0"
RAW_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")  # a Markdown table's rule line, "| --- |"


def _pages(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.html") if "_static" not in p.relative_to(out).parts)


def _shown_text(page: Path) -> str:
    """What a page shows a reader, less the code cells' sources (code may build a table's pipes)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    article = soup.find("article") or soup
    for code in article.select(".cell_input"):
        code.decompose()
    for block in article.find_all("pre"):
        if not block.find_parent(class_="cell_output"):
            block.decompose()  # a code block in the prose, not an output
    return article.get_text("\n")


def test_every_table_a_lesson_shows_is_an_html_table(site):
    raw = {str(p.relative_to(site["out"])): m.group(0) for p in _pages(site["out"])
           if (m := RAW_TABLE.search(_shown_text(p)))}
    assert not raw, f"pages showing Markdown table text instead of a table: {raw}"
    tables = sum(p.read_text(encoding="utf-8").count("<table") for p in site["out"].glob("lessons/*.html"))
    assert tables > 0


def test_raw_table_check_sees_pipe_text():
    assert RAW_TABLE.search("| pattern | method |\n| --- | --- |") and not RAW_TABLE.search("a | b")


def test_every_figure_has_a_text_alternative_that_says_what_it_shows(site):
    """No figure is announced by its file name: each has the lesson's own words (its takeaway)."""
    from bs4 import BeautifulSoup

    missing = []
    for page in site["out"].glob("lessons/*.html"):
        for img in BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select("article img"):
            alt = img.get("alt", "")
            if len(alt) < 20 or re.search(r"\.(png|jpe?g|svg)\b|_images", alt):
                missing.append(f"{page.name}: {img.get('src')} alt={alt!r}")
    assert not missing, "\n".join(missing[:20])


def test_the_site_passes_axe_on_every_page_with_no_serious_or_critical_violation(site, server):
    """axe-core (site/package-lock.json) in Chromium, WCAG 2.0/2.1 A and AA rules, on every page, with
    MathJax typeset first; the maths carries assistive MathML for screen readers."""
    require_chromium()
    assert AXE.exists(), "axe-core is missing: npm ci --prefix site (make test does)"
    from playwright.sync_api import sync_playwright

    failures, checked, review, with_mathml = [], 0, Counter(), 0
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())
        try:
            for path in _pages(site["out"]):
                page.goto(f"{server}/{path.relative_to(site['out']).as_posix()}")
                page.wait_for_load_state("load")
                has_math = page.evaluate("() => !!document.querySelector('.math')")
                if has_math:  # MathJax is served by the site; wait for it to typeset
                    page.wait_for_function(MATHJAX_READY, timeout=30_000)
                    page.evaluate("() => MathJax.startup.promise")
                    with_mathml += page.evaluate(ASSISTIVE_MATHML)
                page.add_script_tag(path=str(AXE))
                result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                                       WCAG_TAGS)
                checked += 1
                review.update(check["id"] for check in result["incomplete"])
                for violation in result["violations"]:
                    if violation["impact"] in ("serious", "critical"):
                        nodes = [n["target"] for n in violation["nodes"][:3]]
                        failures.append(f"{path.name}: {violation['id']} ({violation['impact']}) {nodes}")
        finally:
            browser.close()
    print(f"axe-core: {checked} pages, {len(failures)} serious/critical violations, "
          f"checks needing review by a person: {dict(review)}; {with_mathml} pages with assistive MathML")
    assert checked == len(_pages(site["out"])) and with_mathml > 0
    assert not failures, "\n".join(failures[:30])

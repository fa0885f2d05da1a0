"""The student notebooks as students read them: in JupyterLab, served from the course's own
environment (with jupyterlab-myst, which renders MyST Markdown and fills {eval} roles from the
kernel), in headless Chromium.

Every chapter is opened and its Markdown rendered: no raw role or directive markup may show, and
the browser console stays free of errors. One chapter (the quickest) is also run as a student
runs it, Run All from the menu: every code cell runs, every {eval} is filled in. Only one, because
the book build executes every student notebook already (see tests/test_grade_fast.py for
how often each notebook runs in ``make test``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from book_site import ARTIFACTS, ROOT, chromium
from conftest import chapters
from selenium.webdriver.common.by import By

BIN = Path(sys.executable).parent
#: MyST markup that must never reach a reader as text.
RAW_MARKUP = re.compile(r"\{(term|cite|cite:t|cite:p|eval|ref|numref|doc|glue|download)\}`|^\s*(:::|```)\{",
                        re.M)
#: The chapter run end to end (the student version with the shortest demonstrations).
RUN_ALL_CHAPTER = "ch02_forget_gate"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> Path:
    """JupyterLab user settings: render every cell (no windowing), no news or update checks, and
    no autosave (a kernel's metadata makes a notebook dirty; the notebooks are the repository's)."""
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "docmanager-extension/plugin": {"autosave": False},  # the chapters served are the course's own
    }.items():
        path = folder / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


@pytest.fixture(scope="module")
def lab():
    """A JupyterLab server on the repository, loaded once in a headless Chromium: the driver, and
    the console errors logged while JupyterLab started."""
    port, token = _free_port(), "course-test"
    served = {p: p.read_bytes() for p in sorted((ROOT / "chapters").glob("*/*.ipynb"))}
    with tempfile.TemporaryDirectory(prefix="lab-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
               "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
        log = (tmp / "server.log").open("w")
        server = subprocess.Popen(
            [str(BIN / "jupyter"), "lab", "--no-browser", "--allow-root", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
             f"--ServerApp.root_dir={ROOT}", f"--LabApp.user_settings_dir={_settings(tmp / 'settings')}",
             "--LabApp.expose_app_in_browser=True"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise AssertionError("JupyterLab did not start:\n"
                                             + (tmp / "server.log").read_text()[-3000:]) from None
                    time.sleep(1)
            with chromium() as driver:
                # JupyterLab is loaded once; each chapter is then opened inside it, as a student
                # opens one notebook after another (window.jupyterapp: expose_app_in_browser).
                driver.get(f"{base}/lab?token={token}&reset")
                _wait(lambda: driver.execute_script(
                    "return !!(window.jupyterapp && window.jupyterapp.shell && "
                    "document.querySelector('.jp-LabShell'))"), 180, "JupyterLab to start")
                driver.execute_async_script("const done = arguments[arguments.length - 1]; "
                                            "window.jupyterapp.restored.then(() => done(1))")
                yield SimpleNamespace(driver=driver, startup_errors=_console_errors(driver))
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
            changed = [str(p.relative_to(ROOT)) for p, data in served.items() if p.read_bytes() != data]
            assert not changed, f"JupyterLab wrote to the course's notebooks: {changed}"


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _open(lab, chapter: str):
    """Close what is open and open ``chapter``'s notebook in the running JupyterLab."""
    driver = lab.driver
    error = driver.execute_async_script(
        """const done = arguments[0];
        const app = window.jupyterapp;
        // the chapter read before is closed unsaved (its kernel set metadata, which made it dirty)
        for (const w of app.shell.widgets('main')) { if (w.context) w.context.model.dirty = false; }
        app.commands.execute('application:close-all').then(() => done(null), err => done(String(err)));""")
    assert error is None, f"JupyterLab could not close the chapter open before {chapter}: {error}"
    # What came before is not this chapter's: closing a notebook a second after its kernel started
    # (as this test does, never a reader) cancels the debugger's first request, and JupyterLab
    # logs that as an error.
    time.sleep(1)
    driver.get_log("browser")
    error = driver.execute_async_script(
        """const [path, done] = arguments;
        window.jupyterapp.commands.execute('docmanager:open', {path})
          .then(widget => widget.context.ready)
          .then(() => done(null), err => done(String(err)));""",
        f"chapters/{chapter}/{chapter}.ipynb")
    assert error is None, f"JupyterLab could not open {chapter}: {error}"
    _wait(lambda: "Idle" in " ".join(_texts(driver, ".jp-StatusBar-Widget")), 180,
          f"{chapter}'s kernel to be idle")
    return driver


def _texts(driver, selector: str) -> list[str]:
    """The text a reader sees in each element matching ``selector``, read in one call to the
    page (a WebDriver call per element makes the page lay itself out again each time)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText);", selector)


def _markdown_texts(driver) -> list[str]:
    return _texts(driver, ".jp-MarkdownCell .jp-Cell-inputWrapper")


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _raw_markup(texts: list[str]) -> list[str]:
    return [t[:200] for t in texts if RAW_MARKUP.search(t)]


def test_jupyterlab_starts_without_console_errors(lab):
    assert not lab.startup_errors, f"console errors while JupyterLab started: {lab.startup_errors}"


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_renders_in_jupyterlab_without_raw_markup_or_console_errors(lab, chapter):
    driver = _open(lab, chapter)
    source = json.loads((ROOT / "chapters" / chapter / f"{chapter}.ipynb").read_text())
    n_markdown = sum(c["cell_type"] == "markdown" for c in source["cells"])
    texts = _wait(lambda: (t := _markdown_texts(driver)) and len(t) == n_markdown and all(t) and t,
                  60, f"{chapter}'s {n_markdown} markdown cells to render")
    assert not _raw_markup(texts), f"{chapter} shows raw MyST markup in JupyterLab: {_raw_markup(texts)}"
    assert not _console_errors(driver), f"{chapter}: console errors: {_console_errors(driver)}"


def test_run_all_in_jupyterlab_runs_every_cell_and_fills_every_eval(lab):
    chapter = RUN_ALL_CHAPTER
    driver = _open(lab, chapter)
    [menu] = [e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text == "Run"]
    menu.click()
    [run_all] = _wait(lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel")
                               if e.text == "Run All Cells"], 10, "the Run menu")
    run_all.click()

    def prompts():
        """The prompts of the code cells a student sees (folded cells show no prompt), once each
        holds an execution count."""
        found = [p.strip() for p in driver.execute_script(
            "return [...document.querySelectorAll('.jp-CodeCell')]"
            ".filter(c => !c.querySelector('.jp-InputPlaceholder'))"
            ".map(c => c.querySelector('.jp-InputPrompt').innerText);")]
        return found if found and all(re.fullmatch(r"\[\d+\]:", p) for p in found) else None

    ran = _wait(prompts, 240, f"every code cell of {chapter} to run")
    source = json.loads((ROOT / "chapters" / chapter / f"{chapter}.ipynb").read_text())
    shown = [c for c in source["cells"] if c["cell_type"] == "code"
             and not c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert len(ran) == len(shown)
    # jupyterlab-myst shows an {eval} that has no value yet as its expression in a code span.
    markdown = "".join("".join(c["source"]) for c in source["cells"] if c["cell_type"] == "markdown")
    expressions = set(re.findall(r"\{eval\}`([^`]*)`", markdown))
    assert expressions, f"{chapter} has no {{eval}} role: choose a chapter that shows measured numbers"

    def unfilled():
        codes = set(_texts(driver, ".jp-MarkdownCell .jp-Cell-inputWrapper code"))
        return codes & expressions

    try:
        _wait(lambda: not unfilled(), 30, "every {eval} role to show its value")
    except AssertionError:
        raise AssertionError(f"{{eval}} roles without a value after Run All: {sorted(unfilled())}") from None
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"jupyterlab-{chapter}.png"))
    texts = _markdown_texts(driver)
    assert not _raw_markup(texts), f"raw MyST markup after Run All: {_raw_markup(texts)}"
    assert not _console_errors(driver), f"console errors after Run All: {_console_errors(driver)}"

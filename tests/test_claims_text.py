"""No hand-typed measurement in a chapter's prose.

A measured number in a markdown cell is pasted from the cell that measured it, through an
``{eval}`` role (see ``lstm_course.teach.claims``). This test reads every markdown cell of the
answer keys and fails on a decimal number, a power of ten or a percentage that is typed by hand,
unless its sentence cites the paper it is quoted from (a ``{cite}`` role).
"""

import json
import re

import pytest
from conftest import ROOT, chapters

# Inputs a chapter gives (not measurements it makes), per chapter: exact token -> why it is typed.
ALLOWED: dict[str, dict[str, str]] = {
    "ch01_rnn": {"0.5": "a largest singular value of W_h we choose for the measurement (an input)",
                 "0.9": "a largest singular value of W_h we choose for the measurement (an input)"},
    "ch07_tagging": {"0.4": "a PyTorch version (Variable has been a no-op since 0.4)"},
    "ch10_variants": {"0.99": "the threshold that defines a saturated cell, |tanh(c_t)| > 0.99"},
    "ch02_forget_gate": {"0.5": "the seed notes' worked forget gate [0.5, 1, 0.5] (a given input)",
                         "4.5": "that gate times c = [6, 8, 9] is [3, 8, 4.5] (the worked example)"},
    "ch05_bptt": {"10^{-6}": "the pass mark of a gradient check, a threshold we choose",
                  "10^{-5}": "the finite-difference step we choose",
                  "10^{-16}": "float64's rounding unit (about 2.2e-16), a property of the number format"},
}

_MEASUREMENT = re.compile(
    r"(?<![\w.])("
    r"\d+(?:\.\d+)?\s*(?:\\%|%)"          # a percentage: 84.7%, 85 %, 84.7\%
    r"|10\^\{?[-−]?\d+\}?"                 # a power of ten: 10^11, 10^{-7}
    r"|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+"                    # 10¹¹
    r"|\d+(?:\.\d+)?\s*(?:\\times|×)\s*10" # 8.2 \times 10^{13}
    r"|\d+(?:\.\d+)?[eE][-+]?\d+"          # 1e-7, 2.6e-08
    r"|\d*\.\d+"                           # a decimal: 0.98, .5
    r")(?![\w])"
)
_STRIP = [
    re.compile(r"```.*?```", re.S),                # fenced code
    re.compile(r"\{eval\}`[^`]*`"),                # numbers pasted from the cells
    re.compile(r"`[^`]*`"),                        # code spans (settings written as code)
    re.compile(r"\]\([^)]*\)"),                    # link targets
    re.compile(r"https?://\S+"),                   # bare URLs
    re.compile(r"(?m)^\s*:[\w-]+:.*$"),            # directive options (:width: 80%)
    re.compile(r"(?m)^#+ .*$"),                    # headings ("## 1.6 ...")
    re.compile(r"(?:[Ss]ections?|[Ee]xercises?|[Ff]igures?|[Cc]hapters?|[Tt]ables?|§)\s+\d+(?:\.\d+)+"
               r"(?:\s*(?:,|and|or|to|-|–)\s*\d+(?:\.\d+)+)*"),  # Section 1.6, Exercises 5.1 and 5.2
]
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z$*(\[])")


def hand_typed(markdown: str) -> list[str]:
    """The hand-typed measurements of one markdown cell (each with its sentence)."""
    found = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        if "{cite" in paragraph and not _SENTENCE.search(paragraph):
            continue
        for sentence in _SENTENCE.split(paragraph):
            if "{cite" in sentence:
                continue
            text = sentence
            for pattern in _STRIP:
                text = pattern.sub(" ", text)
            found += [(m.group(1), sentence.strip()) for m in _MEASUREMENT.finditer(text)]
    return found


def test_the_detector_sees_typed_numbers_and_ignores_pasted_and_quoted_ones():
    tokens = [t for t, _ in hand_typed(
        "The RNN reaches 0.98 accuracy. The gradient grows by about $10^{11}$. Only 84.7% pass. "
        "Steps shrink to 1e-7 and $8.2 \\times 10^{13}$. It grows by 10¹¹."
    )]
    assert tokens == ["0.98", "10^{11}", "84.7%", "1e-7", "8.2 \\times 10", "10¹¹"]
    assert hand_typed("It reaches {eval}`acc` with `lr=0.01` over 200 steps (Section 1.5).") == []
    assert hand_typed("## 1.6 Gaps\nExercises 5.1 and 5.2 reach 0.5.") == [
        ("0.5", "## 1.6 Gaps\nExercises 5.1 and 5.2 reach 0.5.")]
    assert hand_typed("The paper reports 1 error in 2,560, about 0.04% {cite:p}`hochreiter1997`.") == []


@pytest.mark.parametrize("chapter", chapters())
def test_no_hand_typed_measurement_in_the_prose(chapter):
    notebook = json.loads((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_text())
    allowed = ALLOWED.get(chapter, {})
    offenders = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            offenders += [(token, sentence) for token, sentence in hand_typed("".join(cell["source"]))
                          if token not in allowed]
    assert not offenders, (
        f"{chapter}: numbers typed by hand in the prose (paste them with {{eval}} from the cell that "
        "measured them, cite the paper they come from, or add them to ALLOWED with the reason):\n"
        + "\n".join(f"  {token!r} in: {sentence[:160]}" for token, sentence in offenders)
    )


def _bound_names(code: str) -> set[str]:
    """Names a code cell binds (assignments, for targets, imports, defs), read with ast."""
    import ast

    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


@pytest.mark.parametrize("chapter", chapters())
def test_every_pasted_number_is_measured_before_the_sentence_that_shows_it(chapter):
    """An {eval} is filled from the kernel when its Markdown cell is reached (in the book and in
    JupyterLab's Run All): the cell that measures the number must come first."""
    notebook = json.loads((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_text())
    bound: set[str] = set()
    early = []
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            bound |= _bound_names(source)
        elif cell["cell_type"] == "markdown":
            for expression in re.findall(r"\{eval\}`([^`]*)`", source):
                name = re.match(r"[A-Za-z_]\w*", expression.strip())
                if name and name.group(0) not in bound:
                    early.append(expression)
    assert not early, f"{chapter}: {{eval}} before the cell that measures it: {early}"


@pytest.mark.parametrize("chapter", chapters())
def test_claim_cells_run_in_the_book(chapter):
    """The book executes notebooks inline, where myst-nb drops a cell tagged remove-cell before
    running it: a claim check there would never run. Hidden checks are remove-input + remove-output."""
    notebook = json.loads((ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_text())
    skipped = ["".join(c["source"])[:80] for c in notebook["cells"]
               if c["cell_type"] == "code" and "remove-cell" in c["metadata"].get("tags", [])]
    assert not skipped, f"{chapter}: cells the book would not run (tag remove-cell): {skipped}"

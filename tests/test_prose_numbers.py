"""A chapter's prose takes a run's numbers from its cells, and every figure it shows exists.

Three checks over the MyST sources in ``book/``:

1. every ``{glue:...}`key``` role in a chapter refers to a key that the same chapter
   stores with ``glue("key", ...)`` (an f-string name, ``glue(f"acc_{name}", ...)``,
   covers every key that starts with its literal prefix);
2. in the chapters listed in ``ENFORCED``, the prose states no run result literally (the
   rule is ``RUN_NUMBER_RULES`` below); numbers a run produces are glued or said in words;
3. every figure or image a page references exists and has alt text.

The prose rule reads the text before ``## Exercises`` (exercises state givens and
targets, and their checks grade them) with code cells, fenced code, directive options,
display and inline math, inline code and every ``{role}`...``` removed. What is left
must not contain

- a percentage (``89%``, ``89.3 %``, ``12 percent``): accuracies, error rates and
  speed-ups are run results;
- a decimal with two or more digits after the point (``0.49``, ``1.25``): similarities,
  losses and measured ratios are run results;
- a number of points (``3.2 points``): the difference of two accuracies;
- a duration (``61 seconds``, ``2.5 s``, ``40 ms``, ``3 minutes``);
- the phrase "our run" (the reader's run is the one that counts).

Arithmetic facts and cited figures that match a rule (``0.25`` as the mean of a worked
example, the Fashion-MNIST paper's human accuracy) go in ``ALLOWED``, each as a phrase
quoted exactly from the prose; the phrase is blanked before the rules run, and a phrase
no longer in the chapter fails the test so the list cannot rot.
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT, is_notebook_chapter, toc_chapters

DOCS = toc_chapters()
CHAPTERS = [doc for doc in DOCS if is_notebook_chapter(doc)]

ENFORCED = (
    "book/why_convolutions",
    "book/convolution",
    "book/pooling",
    "book/batch_norm",
    "book/dropout",
    "book/keras_cnn",
    "book/keras_vs_pytorch",
    "book/data_pipelines",
    "book/pytorch_cnn",
    "book/tuning_deploying",
    "book/evaluation",
    "book/transfer_learning",
)

# Phrases quoted exactly from a chapter's prose that match a rule but report no run.
ALLOWED: dict[str, tuple[str, ...]] = {
    "book/batch_norm": (
        # n / (n - 1) for 32 values: the biased and unbiased variance, by arithmetic.
        "a 3% difference in the variance",
    ),
    "book/dropout": (
        # The limit training accuracy approaches.
        "climbs towards 100%",
    ),
    "book/keras_cnn": (
        # The validation split the chapter chooses.
        "hold out 10% of the Fashion-MNIST training images",
    ),
    "book/evaluation": (
        # A quotation of the sentence the chapter warns about.
        '"The model reaches 90% accuracy"',
        # COCO's definitions: its IoU thresholds and recall levels.
        "0.50, 0.55, ..., 0.95",
        "0, 0.01, ..., 1",
    ),
    "book/keras_vs_pytorch": (
        # log(1 + 9/e): the smallest loss after softmax twice over ten classes, by arithmetic.
        "cannot drop below 1.46",
        "the loss is at least 1.46",
        "caps the loss at 1.46",
    ),
}

RUN_NUMBER_RULES = {
    "a percentage": r"\d(?:[\d,]*\d)?(?:\.\d+)?\s?(?:%|per ?cent\b)",
    "a decimal with two or more places": r"(?<![\w.])\d+\.\d{2,}(?![\w.])",
    "a number of points": r"(?<![\w.])\d+(?:\.\d+)?\s+(?:percentage\s+)?points?\b",
    "a duration": (
        r"(?<![\w.])\d+(?:\.\d+)?\s?"
        r"(?:s|ms|µs|secs?|seconds?|mins?|minutes?|h|hours?)(?![\w-])"
    ),
    'the phrase "our run"': r"\bour runs?\b",
}

GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")
GLUE_DIRECTIVE = re.compile(r"^\s*(?:```|:::)\{glue(?::\w+)?\}\s+(\S+)", re.M)
GLUE_CALL = re.compile(r"""\bglue\(\s*(f?)["']([^"'{]*)(\{?)""")
FENCE = re.compile(r"^(\s*)(`{3,}|:{3,})(.*)$")
FIGURE = re.compile(r"^\s*(?:`{3,}|:{3,})\{(figure|image)\}\s*(\S*)")
MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)")


def glued_keys(text: str) -> tuple[set[str], set[str]]:
    """Literal names passed to ``glue(...)``, and the prefixes of f-string names."""
    literal, prefixes = set(), set()
    for is_f, name, brace in GLUE_CALL.findall(text):
        (prefixes if is_f and brace else literal).add(name)
    return literal, prefixes


def used_keys(text: str) -> set[str]:
    """Keys the prose refers to with ``{glue:...}`` roles and glue directives."""
    roles = {content.split(":", 1)[0].strip() for content in GLUE_ROLE.findall(text)}
    return roles | set(GLUE_DIRECTIVE.findall(text))


def prose(text: str) -> str:
    """The reader's sentences before ``## Exercises``: no code, options, math or roles."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter
    text = text.split("\n## Exercises", 1)[0]
    lines, fence = [], None  # fence: (marker, keep the body as prose?)
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is not None:
            marker, keep = fence
            closes = match and match.group(2)[0] == marker[0] and not match.group(3).strip()
            if closes and len(match.group(2)) >= len(marker):
                fence = None
                continue
            if keep and not re.match(r"^\s*:[\w-]+:", line):  # captions, not options
                lines.append(line)
            continue
        if match:
            info = match.group(3).strip()
            # Captions of figures and the text of admonitions are prose; code is not.
            keep = bool(re.match(r"\{(figure|image|note|tip|warning|important|admonition)", info))
            fence = (match.group(2), keep)
            continue
        lines.append(line)
    body = "\n".join(lines)
    body = re.sub(r"\$\$.*?\$\$", " ", body, flags=re.S)  # display math
    body = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", body)  # roles: {glue:text}`...`, {ref}`...`
    body = re.sub(r"`[^`\n]*`", " ", body)  # inline code
    body = re.sub(r"(?<![\\$])\$[^$\n]+\$", " ", body)  # inline math
    body = re.sub(r"\]\([^)]*\)", "]", body)  # link targets
    return body


def run_numbers(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every literal run result in ``text``'s prose, as 'rule: "match" in "...context..."'."""
    body = prose(text)
    for phrase in allowed:
        body = body.replace(phrase, " " * len(phrase))
    found = []
    for rule, pattern in RUN_NUMBER_RULES.items():
        for match in re.finditer(pattern, body, flags=re.I):
            start, end = max(match.start() - 40, 0), match.end() + 40
            context = " ".join(body[start:end].split())
            found.append(f'{rule}: "{match.group(0)}" in "...{context}..."')
    return found


def figures(text: str) -> list[tuple[str, str]]:
    """(path, alt text) of every figure/image directive and Markdown image in ``text``."""
    found, lines = [], text.splitlines()
    for number, line in enumerate(lines):
        match = FIGURE.match(line)
        if match:
            alt = ""
            for option in lines[number + 1 :]:
                if not re.match(r"^\s*:[\w-]+:", option):
                    break
                if re.match(r"^\s*:alt:", option):
                    alt = option.split(":alt:", 1)[1].strip()
            found.append((match.group(2), alt))
    found += [(path, alt.strip()) for alt, path in MARKDOWN_IMAGE.findall(text)]
    return found


@pytest.mark.parametrize("doc", CHAPTERS)
def test_every_glue_role_has_a_glue_call_in_its_chapter(doc):
    text = (ROOT / f"{doc}.md").read_text()
    literal, prefixes = glued_keys(text)
    missing = {
        key
        for key in used_keys(text)
        if key not in literal and not any(key.startswith(p) for p in prefixes)
    }
    assert not missing, (
        f"{doc} shows {sorted(missing)} with {{glue:...}} roles but never calls "
        f'glue("<key>", value) for them: add the call in the cell that computes the number'
    )


@pytest.mark.parametrize("doc", ENFORCED)
def test_prose_states_no_run_result_literally(doc):
    text = (ROOT / f"{doc}.md").read_text()
    allowed = ALLOWED.get(doc, ())
    stale = [phrase for phrase in allowed if phrase not in prose(text)]
    assert not stale, f"ALLOWED lists phrases no longer in {doc}'s prose: {stale}"
    found = run_numbers(text, allowed)
    assert not found, (
        f"{doc} states run results in its prose; glue them from the cell that computes them "
        "or say them in words (an arithmetic fact goes in ALLOWED):\n  " + "\n  ".join(found)
    )


@pytest.mark.parametrize("doc", ENFORCED)
def test_enforced_chapters_draw_at_least_one_figure(doc):
    text = (ROOT / f"{doc}.md").read_text()
    assert figures(text), f"{doc} includes no drawn figure (a {{figure}} directive)"


@pytest.mark.parametrize("doc", DOCS)
def test_every_figure_exists_and_has_alt_text(doc):
    page = ROOT / f"{doc}.md"
    for path, alt in figures(page.read_text()):
        if re.match(r"https?://", path):
            continue
        target = (page.parent / path).resolve()
        assert target.is_file(), f"{doc} shows {path}, which is not at {target}"
        assert target.is_relative_to((ROOT / "book").resolve()), f"{path} lies outside book/"
        assert alt, f"{doc} shows {path} without :alt: text; describe it in one sentence"


def test_the_prose_rule_catches_run_numbers_and_spares_code_math_and_glue():
    text = "\n".join(
        [
            "---",
            "jupytext: {}",
            "---",
            "The CNN reached 89.3% in our run, after 61 seconds, 3.2 points above.",
            "A similarity of 0.49; a 12 s epoch.",
            "Glued: {glue:text}`acc:.1%`, math $0.25$ and $$1.5 \\%$$, code `0.125`.",
            "```{code-cell} ipython3",
            "print(f'{accuracy:.1%} in 2.5 s')  # 89.3%",
            "```",
            ":::{figure} figures/x.svg",
            ":alt: A grid of 0.25 values.",
            "A caption quoting 45.5%.",
            ":::",
            "Stride 2, 3 × 3 kernels, 28 × 28 pixels, 9,098 parameters, 5 epochs.",
            "## Exercises",
            "Reach 85% test accuracy.",
        ]
    )
    assert matches(run_numbers(text)) == sorted(
        ["89.3%", "61 seconds", "3.2 points", "0.49", "12 s", "45.5%", "our run"]
    )
    allowed = ("reached 89.3% in our run", "A caption quoting 45.5%.")
    assert matches(run_numbers(text, allowed)) == sorted(
        ["61 seconds", "3.2 points", "0.49", "12 s"]
    )


def matches(found: list[str]) -> list[str]:
    """The quoted matches of ``run_numbers``' findings, sorted."""
    return sorted(re.search(r'"([^"]+)"', item).group(1) for item in found)


def test_the_glue_check_reads_roles_directives_and_f_string_names():
    text = (
        'glue("best", 1)\nglue(f"acc_{name}", 2)\n'
        "{glue:text}`best:.1%` {glue}`acc_mlp` {glue:text}`lost`\n"
        ":::{glue:figure} curve\n:::\n"
    )
    literal, prefixes = glued_keys(text)
    assert literal == {"best"} and prefixes == {"acc_"}
    assert used_keys(text) == {"best", "acc_mlp", "lost", "curve"}


def test_the_figure_check_reads_alt_text_from_directives_and_markdown():
    text = (
        ":::{figure} figures/a.svg\n:alt: Described.\n:name: fig-a\nCaption.\n:::\n"
        "```{figure} figures/b.svg\n:name: fig-b\n```\n![](figures/c.png) ![Cat](d.png)\n"
    )
    assert figures(text) == [
        ("figures/a.svg", "Described."),
        ("figures/b.svg", ""),
        ("figures/c.png", ""),
        ("d.png", "Cat"),
    ]

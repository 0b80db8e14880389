"""The numbers a notebook's reading paragraphs write, and whether its cells printed them.

A *reading paragraph* is a markdown cell without a heading that comes after a code cell of
its section: the sentences that read the result.  (The paragraph under a figure's heading
states the slide's claim and setup; its numbers are inputs, not results.)  Each number written there must be one that a code
cell above it printed, rounded to the digits written: "0.0289" and "0.029" both match a
printed 0.028912, "420" matches only a printed 420.  Signs are ignored (a paragraph writes
"−1.4730" where Python prints "-1.473").

Written forms: "13 600", "1e-4", "10⁻⁴", "3.5·10⁴", and in LaTeX ``10^{-4}``.  Not read as
numbers: code spans, link targets, sub- and superscripts, and labels that carry digits but
no quantity: figure ids (F26), deck ids (deck 002), problem names (Q100), file names, the
digits of a word (x₁, b2, the deck's "Run 3.1") and a formula's constants (the 2 of 2t or
2L, the 1 of 1/N).  A markdown cell tagged ``full-mode`` quotes numbers of the full setups
only; it is checked in full mode.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Iterable, NamedTuple

FULL_MODE_TAG = "full-mode"

SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")

NOT_QUANTITIES = re.compile(
    r"`[^`]*`"                                  # code spans
    r"|\]\([^)]*\)"                              # link targets
    r"|\b[Dd]ecks? \d{3}(?:(?:, | and | or |–|-)\d{3})*"  # deck ids
    r"|\bF\d+(?:[–-]F?\d+)?"                     # figure ids and ranges of them
    r"|\b(?:Q|QH)\d+|\bRun \d+(?:\.\d+)*"        # problem names, the deck's "Run 3.1"
    r"|\b[\w.-]+\.(?:md|py|ipynb|png|toml)\b"    # file names
    r"|\b\d+-\d+-\d+\b",                         # layer sizes such as 64-64-10
    re.DOTALL)

WRITTEN_NUMBER = re.compile(
    r"(?<![\w.])"                                          # not inside a word or a number
    r"(?P<mantissa>\d{1,3}(?:[ \u2009\u202f\u00a0]\d{3})+(?!\d|\.\d)|\d+(?:\.\d+)?)"
    r"(?:[eE](?P<exponent>[-+−]?\d+)|\s?[·×]\s?10(?P<power>[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+))?"
    r"(?P<superscript>[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?"
    r"(?![A-Za-z/]|\.?\d)")                                    # not a formula's 2t, 1/N, 2L

PRINTED_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class Written(NamedTuple):
    """A number as a paragraph writes it: its text, its value and the half-width of the
    interval that rounds to it (0 for a plain integer: it must be printed exactly)."""

    text: str
    value: Decimal
    half_width: Decimal


def _written(match: re.Match) -> Written:
    mantissa = re.sub(r"\s", "", match["mantissa"])
    exponent = match["exponent"] or (match["power"] or "").translate(SUPERSCRIPTS) or "0"
    exponent = int(exponent.replace("−", "-"))
    superscript = match["superscript"]
    if superscript and mantissa == "10" and not match["exponent"] and not match["power"]:
        mantissa, exponent = "1", int(superscript.translate(SUPERSCRIPTS))
    decimals = len(mantissa.partition(".")[2])
    value = Decimal(mantissa).scaleb(exponent)
    plain_integer = decimals == 0 and exponent == 0
    half_width = Decimal(0) if plain_integer else Decimal(5).scaleb(exponent - decimals - 1)
    return Written(match.group(0).strip(), value, half_width)


LATEX = re.compile(r"\$\$(.*?)\$\$|\$(.*?)\$", re.DOTALL)
LATEX_POWER_OF_TEN = re.compile(r"(\d+(?:\.\d+)?)?\s*(?:\\cdot|\\times)?\s*10\^\{?(-?\d+)\}?")
LATEX_INDEX = re.compile(r"[_^](?:\{[^{}]*\}|\\?\w)")


def latex_as_prose(markdown: str) -> str:
    """``markdown`` with each formula's powers of ten as ``1e-4`` and its sub- and
    superscripts (``x_{100}``, ``\\rho^t``) dropped: what is left of a formula's digits are
    the numbers it writes."""
    def prose(match: re.Match) -> str:
        formula = match.group(1) or match.group(2) or ""
        formula = LATEX_POWER_OF_TEN.sub(lambda m: f" {m.group(1) or 1}e{m.group(2)} ", formula)
        return " " + LATEX_INDEX.sub(" ", formula) + " "
    return LATEX.sub(prose, markdown)


def written_numbers(markdown: str) -> list[Written]:
    """The numbers that a paragraph of ``markdown`` writes, in order."""
    prose = NOT_QUANTITIES.sub(" ", latex_as_prose(markdown))
    return [_written(match) for match in WRITTEN_NUMBER.finditer(prose)]


def printed_numbers(text: str) -> set[Decimal]:
    """The absolute values of the numbers in printed ``text``."""
    return {Decimal(token) for token in PRINTED_NUMBER.findall(text)}


def is_printed(number: Written, printed: Iterable[Decimal]) -> bool:
    """Whether one of ``printed`` rounds to ``number`` at the digits it is written with."""
    return any(abs(value - number.value) <= number.half_width for value in printed)


def output_text(cell: dict) -> str:
    """What a code cell printed or returned as text (not a figure's ``<Figure size ...>``)."""
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append("".join(output.get("text", "")))
        elif "image/png" not in output.get("data", {}):
            texts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def has_heading(cell: dict) -> bool:
    return cell["cell_type"] == "markdown" and bool(
        re.search(r"^#", "".join(cell["source"]), re.MULTILINE))


def is_reading(cells: list[dict], index: int) -> bool:
    """Whether cell ``index`` is a reading paragraph: markdown without a heading, after a
    code cell of its section (the cells since the last heading)."""
    if cells[index]["cell_type"] != "markdown" or has_heading(cells[index]):
        return False
    for cell in reversed(cells[:index]):
        if cell["cell_type"] == "code":
            return True
        if has_heading(cell):
            return False
    return False


def unprinted_numbers(cells: list[dict], *, full_mode: bool) -> list[tuple[int, str]]:
    """``(cell index, number)`` for each number of a reading paragraph that no code cell
    above it printed; paragraphs tagged ``full-mode`` are skipped unless ``full_mode``."""
    missing, printed = [], set()
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            printed |= printed_numbers(output_text(cell))
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if not is_reading(cells, index) or (FULL_MODE_TAG in tags and not full_mode):
            continue
        source = "".join(cell["source"])
        missing += [(index, number.text) for number in written_numbers(source)
                    if not is_printed(number, printed)]
    return missing

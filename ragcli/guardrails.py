"""Guardrails ("indholdshegn"): visible, testable rules around the model.

Three places a rule can act:

- the question (input), before anything else runs;
- the retrieved passages, which are data: instructions found in them are *flagged*
  (shown in --explain and JSON) and stay quoted inside the prompt, never obeyed;
- the answer (output), before it is shown — e.g. CPR numbers are masked.

A rule either flags (the pipeline goes on and reports it), masks (the matching text is
replaced) or blocks (the question is refused with the rule's message). The default
rule set is small on purpose; pass your own list of Rule to change it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ragcli.privacy import CPR_PATTERN, MAX_MATCH_CHARS

Action = Literal["flag", "mask", "block"]
Where = Literal["input", "passage", "output"]


@dataclass(frozen=True)
class Rule:
    name: str
    where: Where
    pattern: re.Pattern[str]
    action: Action
    message: str
    replacement: str = "[skjult]"


@dataclass(frozen=True)
class Finding:
    rule: str
    where: Where
    action: Action
    message: str
    match: str
    source: int | None = None  # 1-based passage number for passage findings

    def to_dict(self) -> dict:
        return {
            "rule": self.rule, "where": self.where, "action": self.action,
            "message": self.message, "match": self.match, "source": self.source,
        }


_INJECTION = re.compile(
    r"\b(ignor[eé]r|glem|se bort fra|tilsidesæt|ignore|disregard|forget)\b[^.\n]{0,40}?"
    r"\b(tidligere|ovenstående|alle|dine|previous|above|all|your)\b[^.\n]{0,30}?"
    r"\b(instruks\w*|instruktion\w*|regler|anvisning\w*|instructions?|rules|prompt)\b",
    re.IGNORECASE,
)
_ROLE_OVERRIDE = re.compile(r"\b(du er nu|fra nu af skal du|you are now|act as|system prompt|systemprompt)\b", re.IGNORECASE)
# A Danish CPR number in any of its written forms (see privacy.py).
_CPR = CPR_PATTERN

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("prompt-injection", "passage", _INJECTION, "flag", "passagen indeholder en instruks til modellen; den behandles som data"),
    Rule("role-override", "passage", _ROLE_OVERRIDE, "flag", "passagen forsøger at ændre modellens rolle; den behandles som data"),
    Rule("prompt-injection", "input", _INJECTION, "flag", "spørgsmålet forsøger at ændre instrukserne; de kan ikke ændres"),
    Rule("cpr-number", "input", _CPR, "mask", "spørgsmålet indeholder et CPR-nummer; det er skjult"),
    Rule("cpr-number", "output", _CPR, "mask", "svaret indeholdt et CPR-nummer; det er skjult"),
)


def _apply(text: str, where: Where, rules: Sequence[Rule], source: int | None = None) -> tuple[str, list[Finding]]:
    findings: list[Finding] = []
    for rule in rules:
        if rule.where != where:
            continue
        for match in rule.pattern.finditer(text):
            findings.append(Finding(rule.name, where, rule.action, rule.message, match.group(0), source))
        if rule.action == "mask":
            text = rule.pattern.sub(rule.replacement, text)
    return text, findings


def check_input(question: str, rules: Sequence[Rule] = DEFAULT_RULES) -> tuple[str, list[Finding]]:
    """The question after masking, and what the rules found. A "block" finding means refuse."""
    return _apply(question, "input", rules)


def check_passages(texts: Sequence[str], rules: Sequence[Rule] = DEFAULT_RULES) -> list[Finding]:
    findings: list[Finding] = []
    for number, text in enumerate(texts, start=1):
        findings.extend(_apply(text, "passage", rules, number)[1])
    return findings


def check_output(answer: str, rules: Sequence[Rule] = DEFAULT_RULES) -> tuple[str, list[Finding]]:
    return _apply(answer, "output", rules)


def blocked(findings: Sequence[Finding]) -> Finding | None:
    return next((f for f in findings if f.action == "block"), None)


class OutputFilter:
    """Apply output rules to a stream of tokens before they reach the terminal.

    Masking needs to see a whole match (a CPR number may arrive over several tokens),
    so the last few characters are held back until more text or the end arrives.
    """

    HOLD = MAX_MATCH_CHARS + 8  # longer than any masked pattern plus its boundary

    def __init__(self, rules: Sequence[Rule] = DEFAULT_RULES):
        self.rules = rules
        self._raw = ""
        self._emitted = 0

    def feed(self, piece: str) -> str:
        self._raw += piece
        masked, _ = check_output(self._raw, self.rules)
        ready = max(self._emitted, len(masked) - self.HOLD)
        out = masked[self._emitted : ready]
        self._emitted = ready
        return out

    def flush(self) -> str:
        masked, _ = check_output(self._raw, self.rules)
        out = masked[self._emitted :]
        self._emitted = len(masked)
        return out

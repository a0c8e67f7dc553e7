"""A mirror's include/exclude rules: parsed once, matched without I/O (pure, unit-tested on their own).

A rule is a name pattern (`numpy`, `django-*`: fnmatch on the PEP 503 canonical name) or a qualified one,
`KIND:PATTERN`, whose kinds depend on the format: PyPI files by type (`type:sdist`, `type:wheel`), conda files by
subdir (`subdir:linux-64`, `subdir:noarch`). Each kind is judged on its own:

- include: when the include list has rules of a kind, a project or file must match one of them (names for the
  project, types/subdirs for its files); a kind with no include rule lets everything through;
- exclude: any matching exclude rule refuses, and wins over an include.

So `include: ["requests", "urllib3", "type:wheel"]` mirrors the wheels of two projects. Every refusal names the
rule that decided it, so a client told "no" learns why (`Refusal.message`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packyard.core.errors import BadRequest

NAME = "name"
"""The kind of an unqualified rule."""
QUALIFIERS: Mapping[str, Mapping[str, frozenset[str] | None]] = {
    "pypi": {"type": frozenset({"sdist", "wheel"})},
    "conda": {"subdir": None},
    "cran": {},
}
"""Per format, the qualified kinds a rule may use and their allowed values (None: any pattern)."""
MAX_RULES = 500
_PATTERN = re.compile(r"[A-Za-z0-9_.*?\[\]!+-]{1,200}")


def canonical(name: str) -> str:
    """PEP 503's normal form, which patterns are matched against (and written in)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: str
    text: str
    """As the user wrote it, for messages."""

    def matches(self, value: str) -> bool:
        return fnmatch.fnmatchcase(value, self.pattern)


@dataclass(frozen=True)
class Refusal:
    """Why the mirror will not serve a project or file: the rule, or the include list it is not in."""

    rule: str
    excluded: bool
    """True: an exclude rule matched; False: include rules of that kind exist and none matched."""

    def message(self, mirror: str, what: str) -> str:
        if self.excluded:
            return f"{what} is excluded by mirror {mirror}'s rule {self.rule!r}"
        return f"{what} is not included by mirror {mirror}'s rules ({self.rule})"


@dataclass(frozen=True)
class Rules:
    include: tuple[Rule, ...] = ()
    exclude: tuple[Rule, ...] = ()

    def project(self, name: str) -> Refusal | None:
        """May the project (package) `name` be served at all?"""
        return self._judge(NAME, canonical(name))

    def file(self, name: str, facts: Mapping[str, str]) -> Refusal | None:
        """May this file of project `name` be served? `facts`: kind -> value (e.g. {"type": "wheel"})."""
        refusal = self.project(name)
        if refusal is not None:
            return refusal
        for kind, value in facts.items():
            refusal = self._judge(kind, value)
            if refusal is not None:
                return refusal
        return None

    def _judge(self, kind: str, value: str) -> Refusal | None:
        for rule in self.exclude:
            if rule.kind == kind and rule.matches(value):
                return Refusal(rule.text, excluded=True)
        wanted = [rule for rule in self.include if rule.kind == kind]
        if wanted and not any(rule.matches(value) for rule in wanted):
            return Refusal(", ".join(repr(rule.text) for rule in wanted), excluded=False)
        return None


def parse_rule(fmt: str, text: object, field: str) -> Rule:
    """One rule of format `fmt`, or BadRequest saying what is wrong with it (`field`: include or exclude)."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"{field}: each rule is a non-empty string, e.g. 'numpy' or 'django-*'")
    stripped = text.strip()
    kind, sep, pattern = stripped.partition(":")
    if not sep:
        kind, pattern = NAME, stripped
    qualifiers = QUALIFIERS.get(fmt, {})
    if kind != NAME and kind not in qualifiers:
        allowed = ", ".join(f"'{k}:...'" for k in qualifiers) or "none"
        raise BadRequest(
            f"{field}: {stripped!r} has the unknown qualifier {kind!r}; {fmt} mirrors allow name patterns "
            f"and the qualifiers {allowed}"
        )
    if not _PATTERN.fullmatch(pattern):
        raise BadRequest(
            f"{field}: {stripped!r} is not a pattern: use letters, digits, '-', '_', '.', '+' and the wildcards "
            "'*', '?' and '[...]' (at most 200 characters)"
        )
    values = qualifiers.get(kind)
    if values is not None and pattern not in values:
        raise BadRequest(f"{field}: {stripped!r}: {kind} must be one of {', '.join(sorted(values))}")
    return Rule(kind, canonical(pattern) if kind == NAME else pattern, stripped)


def parse(fmt: str, include: Sequence[object] | None, exclude: Sequence[object] | None) -> Rules:
    """The rules of a mirror of format `fmt`, validated; the messages say which rule is wrong and why."""
    lists: dict[str, tuple[Rule, ...]] = {}
    for field, items in (("include", include), ("exclude", exclude)):
        if items is None:
            items = []
        if not isinstance(items, list | tuple):
            raise BadRequest(f'{field} must be a list of rules, e.g. ["numpy", "type:wheel"]')
        if len(items) > MAX_RULES:
            raise BadRequest(f"{field} has {len(items)} rules; at most {MAX_RULES}")
        lists[field] = tuple(parse_rule(fmt, item, field) for item in items)
    return Rules(lists["include"], lists["exclude"])

"""The mirror rule parser and matcher (core/mirrors/rules.py): pure, so every case is a plain call."""

from __future__ import annotations

import pytest

from packyard.core.errors import BadRequest
from packyard.core.mirrors import rules


def test_no_rules_let_everything_through():
    parsed = rules.parse("pypi", [], [])
    assert parsed.project("Anything_Goes") is None
    assert parsed.file("x", {"type": "sdist"}) is None


def test_name_patterns_match_the_canonical_name():
    parsed = rules.parse("pypi", ["Django*", "requests"], [])
    assert parsed.project("django-rest-framework") is None
    assert parsed.project("Requests") is None
    refusal = parsed.project("flask")
    assert refusal is not None and not refusal.excluded
    assert "'Django*'" in refusal.message("m", "flask") and "not included" in refusal.message("m", "flask")


def test_underscores_and_dots_are_one_with_dashes():
    parsed = rules.parse("pypi", [], ["zope_interface"])
    assert parsed.project("zope.interface") is not None
    assert parsed.project("Zope-Interface") is not None


def test_exclude_wins_over_include_and_names_its_rule():
    parsed = rules.parse("pypi", ["pk-*"], ["pk-bad"])
    assert parsed.project("pk-good") is None
    refusal = parsed.project("pk_bad")
    assert refusal is not None and refusal.excluded
    assert (
        refusal.message("pypi-mirror", "pk-bad") == "pk-bad is excluded by mirror pypi-mirror's rule 'pk-bad'"
    )


def test_type_rules_judge_files_not_projects():
    parsed = rules.parse("pypi", ["type:wheel"], [])
    assert parsed.project("anything") is None
    assert parsed.file("anything", {"type": "wheel"}) is None
    refusal = parsed.file("anything", {"type": "sdist"})
    assert refusal is not None and "type:wheel" in refusal.rule
    excluded = rules.parse("pypi", [], ["type:sdist"])
    assert excluded.file("a", {"type": "sdist"}) is not None
    assert excluded.file("a", {"type": "wheel"}) is None


def test_a_refused_project_refuses_its_files():
    parsed = rules.parse("pypi", [], ["bad"])
    assert parsed.file("bad", {"type": "wheel"}) is not None


def test_conda_subdir_rules():
    parsed = rules.parse("conda", ["subdir:linux-64", "subdir:noarch"], [])
    assert parsed.file("numpy", {"subdir": "noarch"}) is None
    assert parsed.file("numpy", {"subdir": "osx-arm64"}) is not None


@pytest.mark.parametrize(
    ("fmt", "include", "exclude", "says"),
    [
        ("pypi", "numpy", [], "include must be a list"),
        ("pypi", [""], [], "non-empty string"),
        ("pypi", [3], [], "non-empty string"),
        ("pypi", ["subdir:linux-64"], [], "unknown qualifier 'subdir'"),
        ("conda", [], ["type:wheel"], "unknown qualifier 'type'"),
        ("pypi", ["type:egg"], [], "type must be one of sdist, wheel"),
        ("pypi", [], ["a b"], "is not a pattern"),
        ("pypi", [], ["x/y"], "is not a pattern"),
        ("cran", ["type:source"], [], "qualifiers none"),
        ("pypi", ["x"] * 501, [], "at most 500"),
    ],
)
def test_bad_rules_say_what_to_fix(fmt, include, exclude, says):
    with pytest.raises(BadRequest) as err:
        rules.parse(fmt, include, exclude)
    assert says in err.value.message

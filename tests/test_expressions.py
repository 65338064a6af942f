"""Conditions in scenario files are parsed by a whitelist, never evaluated as Python."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

from maze.app import api
from maze.expressions import MAX_DEPTH, MAX_LENGTH, ExpressionError, parse
from maze.scenario import ScenarioError, from_dict
from tests.conftest import paper_city

ROOT = Path(__file__).resolve().parents[1]


def refused(text: str) -> str:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def household(**values: object):
    """A getter over attribute values, with every other attribute at a neutral value."""
    base = {"age": 35.0, "years_insurance": 0.0, "criminal_record": False,
            "occupation": "factory", "contract": False, "children": 1.0}
    base.update(values)
    return base.__getitem__


# -- what is accepted, and what it means ---------------------------------------------------

def test_the_rule_from_the_brief_evaluates_as_written() -> None:
    rule = parse("age < 45 and years_insurance >= 7 and not criminal_record")
    assert rule.names == {"age", "years_insurance", "criminal_record"}
    assert rule(household(age=30, years_insurance=8))
    assert not rule(household(age=45, years_insurance=8))
    assert not rule(household(age=30, years_insurance=6.9))
    assert not rule(household(age=30, years_insurance=8, criminal_record=True))


@pytest.mark.parametrize(("text", "values", "expected"), [
    ("occupation == 'informal' or contract", {"occupation": "informal"}, True),
    ("occupation == 'informal' or contract", {"occupation": "factory"}, False),
    ("occupation != \"factory\"", {}, False),
    ("(age - 18) * 2 >= 40 and children > 0", {"age": 38}, True),
    ("(age - 18) * 2 >= 40 and children > 0", {"age": 37}, False),
    ("18 <= age < 60", {"age": 60}, False),
    ("18 <= age < 60", {"age": 18}, True),
    ("-age < -30", {"age": 31}, True),
    ("children / 0 > 1000", {"children": 1}, True),     # x/0 is +inf, not a crash
    ("children / 0 > 1000", {"children": 0}, False),    # 0/0 is nan: no comparison holds
    ("contract == True", {"contract": True}, True),
    ("not (contract or criminal_record)", {}, True),
])
def test_allowed_syntax(text: str, values: dict, expected: bool) -> None:
    assert parse(text)(household(**values)) is expected


# -- what is refused ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "says"), [
    ("__import__('os').system('echo x')", "function call"),
    ("__import__('os')", "function call"),
    ("age.__class__ == 1", "attribute access"),
    ("age.real < 3", "attribute access"),
    ("occupation[0] == 'f'", "subscript"),
    ("(lambda: True)()", "function call"),
    ("lambda: True", "lambda"),
    ("__builtins__", "'__builtins__'"),
    ("__class__ == 1", "'__class__'"),
    ("open('/etc/passwd')", "function call"),
    ("[x for x in ()]", "comprehension"),
    ("age ** 1000 > 1", "'**'"),
    ("age // 2 > 1", "'//'"),
    ("contract is True", "'is'"),
    ("occupation in ('informal',)", "tuple"),
    ("age < (x := 3)", "assignment"),
    ("f'{age}' == '35'", "f-string"),
    ("age < 45 if contract else True", "if/else"),
    ("10 ** 400 < age", "'**'"),
    ("1e999 > age", "number this large"),
])
def test_forbidden_syntax_is_refused_with_a_reason(text: str, says: str) -> None:
    msg = refused(text)
    assert says in msg and "not allowed" in msg, msg


@pytest.mark.parametrize(("text", "says"), [
    ("salary > 3000", "unknown household attribute 'salary'"),
    ("os == 1", "unknown household attribute 'os'"),
    ("age", "must be true or false"),
    ("age + 1", "must be true or false"),
    ("age < 'old'", "compares numbers only"),
    ("occupation == 'farmer'", "never 'farmer'"),
    ("contract == 1", "never equal"),
    ("contract and age", "needs a yes/no value"),
    ("not age", "needs a yes/no value"),
    ("occupation + 1 > 2", "needs a number"),
    ("", "empty"),
    ("   ", "empty"),
    ("age <", "not a valid condition"),
    ("import os", "not a valid condition"),
    ("age < 3; import os", "not a valid condition"),
    ("age\x00 < 3", "NUL"),
])
def test_unknown_names_and_type_errors_are_refused(text: str, says: str) -> None:
    assert says in refused(text)


def test_very_long_and_deeply_nested_conditions_are_refused() -> None:
    assert "at most" in refused("age < 1 or " * 200 + "contract")
    assert str(MAX_LENGTH) in refused("a" * (MAX_LENGTH + 1))
    assert "nest" in refused("not " * (MAX_DEPTH + 5) + "contract")
    assert "nest" in refused("-" * 900 + "age < 1")
    assert "nested parentheses" in refused("(" * 300 + "age < 1" + ")" * 300)
    # Deep, but within the limits: accepted.
    assert parse("not " * (MAX_DEPTH - 2) + "contract")(household()) is ((MAX_DEPTH - 2) % 2 == 1)


def test_parsing_and_evaluating_never_calls_eval_or_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    real_compile = builtins.compile

    def trap(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec called")

    def tree_only(source, filename, mode, flags=0, *args, **kwargs):  # noqa: ANN001, ANN002
        # ast.parse compiles to a syntax tree only; compiling to runnable code is refused.
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError("compile to code called")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", trap)
    monkeypatch.setattr(builtins, "exec", trap)
    monkeypatch.setattr(builtins, "compile", tree_only)
    rule = parse("age < 45 and not criminal_record or occupation == 'informal'")
    assert rule(household(age=40))
    refused("__import__('os').system('echo x')")


def test_no_module_of_the_engine_or_domain_calls_eval_or_exec() -> None:
    calls = []
    for path in sorted([*ROOT.joinpath("maze").rglob("*.py"), *ROOT.joinpath("offices").rglob(
            "*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            bare = isinstance(node.func, ast.Name) and node.func.id in ("eval", "exec")
            # The one exception: exec of the empty string, which runs nothing and clears
            # CPython's mark of a KeyboardInterrupt in code made from a string (see
            # maze.app.cli._interrupted); any other argument is refused.
            empty = (bare and node.func.id == "exec" and len(node.args) == 1
                     and not node.keywords and isinstance(node.args[0], ast.Constant)
                     and node.args[0].value == "")
            bare = bare and not empty
            # pandas' eval/query run their text as code: only a literal string is safe there.
            pandas = (isinstance(node.func, ast.Attribute) and node.func.attr in ("eval", "query")
                      and not (node.args and isinstance(node.args[0], ast.Constant)))
            if bare or pandas:
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert calls == []


# -- wired into scenarios -----------------------------------------------------------------

def test_a_bad_condition_in_a_scenario_names_the_key() -> None:
    data = paper_city()
    data["services"]["school"]["condition"] = "__import__('os').system('echo x')"
    with pytest.raises(ScenarioError) as info:
        from_dict(data, source="city.toml")
    assert str(info.value).startswith("city.toml: services.school.condition: a function call")
    data = paper_city()
    data["documents"]["permit"]["condition"] = "lease.owner"
    with pytest.raises(ScenarioError) as info:
        from_dict(data, source="city.toml")
    assert str(info.value).startswith("city.toml: documents.permit.condition: attribute access")
    data["documents"]["permit"]["condition"] = 3
    with pytest.raises(ScenarioError) as info:
        from_dict(data, source="city.toml")
    assert "documents.permit.condition" in str(info.value)


def age_city() -> dict:
    """Two migrant groups that differ only in age, and locals of the same older age."""
    data = paper_city(households=300)
    data["services"]["school"]["documents"] = []
    data["services"]["school"]["fallback"] = []
    data["population"]["groups"] = [
        {"name": "young", "share": 0.4, "attributes": {"age": 30.0, "home_ties": 0.0}},
        {"name": "old", "share": 0.4, "attributes": {"age": 50.0, "home_ties": 0.0}},
        {"name": "local_old", "share": 0.2, "hukou": "local",
         "attributes": {"age": 50.0, "home_ties": 0.0}},
    ]
    return data


def outcomes(data: dict, seed: int = 1):
    run = api.run(from_dict(data), seed)
    return run.events, run.journeys.groupby("group")["outcome"].agg(lambda s: set(s))


def test_service_condition_refuses_migrants_who_fail_it_on_eligibility() -> None:
    data = age_city()
    data["services"]["school"]["condition"] = "age < 45"
    events, by_group = outcomes(data)
    assert by_group["young"] == {"served"}
    assert by_group["old"] == {"gave_up"}
    assert by_group["local_old"] == {"served"}  # eligibility rules are not asked of locals
    refusals = events[events["activity"] == "refuse"]
    assert set(refusals["group"]) == {"old"}
    assert set(refusals["reason"]) == {"eligibility"}
    # Without the condition, the old migrants are served: the condition is what refuses them.
    _, plain = outcomes(age_city())
    assert plain["old"] == {"served"}


def test_document_condition_decides_whether_the_paper_is_issued() -> None:
    data = age_city()
    data["documents"] = {"permit": {"issuer": "police", "condition": "age < 45",
                                    "held_by_locals": False}}
    data["services"]["school"]["documents"] = ["permit"]
    events, by_group = outcomes(data)
    assert by_group["young"] == {"served"}
    assert by_group["old"] == {"gave_up"}
    assert by_group["local_old"] == {"gave_up"}  # documents are asked of everyone
    at_police = events[events["office"] == "police"]
    issued = at_police[at_police["activity"] == "issue"]
    refused_here = at_police[at_police["activity"] == "refuse"]
    assert set(issued["group"]) == {"young"}
    assert set(refused_here["group"]) == {"old", "local_old"}
    assert set(refused_here["reason"]) == {"documents"}


def test_obtainable_follows_document_conditions() -> None:
    from offices.documents import obtainable

    data = paper_city()
    data["documents"]["address"]["condition"] = "age < 45"
    s = from_dict(data)
    assert obtainable(s, {"lease_own": True, "age": 30.0}, "permit")
    assert not obtainable(s, {"lease_own": True, "age": 50.0}, "permit")
    assert obtainable(s, {"lease_own": True}, "permit")  # default age is 35

"""Chapter parameter validation: the papermill/YAML string traps fail with a clear message."""

import re

import pytest

from xlstm_lab.params import Integer, Number, NumberList, ParameterError, check_params, distinct, less


def test_accepts_good_values():
    check_params(
        {"delta": 1e-3, "budgets": [1.0e12, 3e12], "gamma": True, "mode": "a", "n": 3},
        {"delta": Number(positive=True), "budgets": NumberList(positive=True), "gamma": bool, "mode": ("a", "b"), "n": int},
    )


@pytest.mark.parametrize(
    "values, spec, fragment",
    [
        ({"budgets": "[1e12, 3e12]"}, {"budgets": NumberList()}, "list of numbers"),
        ({"c": "1e12"}, {"c": Number()}, "must be a number"),
        ({"c": -1.0}, {"c": Number(positive=True)}, "> 0"),
        ({"g": "yes"}, {"g": bool}, "must be bool"),
        ({"m": "c"}, {"m": ("a", "b")}, "one of"),
        ({}, {"m": int}, "missing"),
        ({"n": True}, {"n": int}, "must be int"),
    ],
)
def test_rejects_bad_values(values, spec, fragment):
    with pytest.raises(ParameterError, match=fragment):
        check_params(values, spec)


def test_yaml_hint_in_message():
    with pytest.raises(ParameterError, match="1.0e\\+12"):
        check_params({"c": "1e12"}, {"c": Number()})


def test_relation_error_names_both_parameters_their_values_and_the_fix():
    with pytest.raises(ParameterError) as info:
        check_params({"c_min": 3e20, "c_max": 2e20}, {"c_min": Number(), "c_max": Number()},
                     relations=[less("c_min", "c_max")])
    msg = str(info.value)
    assert "c_min < c_max" in msg and "c_min = 3e+20" in msg and "c_max = 2e+20" in msg
    assert "choose c_min smaller than c_max" in msg


def test_relations_hold_and_are_checked_after_the_types():
    spec = {"c_min": Number(), "c_max": Number()}
    check_params({"c_min": 1.0, "c_max": 2.0}, spec, relations=[less("c_min", "c_max")])
    # A string is reported as a type error, never as a comparison TypeError from the relation.
    with pytest.raises(ParameterError, match="must be a number"):
        check_params({"c_min": "1e12", "c_max": 2.0}, spec, relations=[less("c_min", "c_max")])
    with pytest.raises(ParameterError, match="c_min < c_max"):  # equal is not less
        check_params({"c_min": 2.0, "c_max": 2.0}, spec, relations=[less("c_min", "c_max")])


def test_custom_relation_names_only_the_parameters_it_mentions():
    rel = ("0 < conf < 1", lambda p: 0 < p["conf"] < 1, "conf is an interval level")
    with pytest.raises(ParameterError) as info:
        check_params({"conf": 95, "config": 1}, {"conf": Number(), "config": int}, relations=[rel])
    assert "got conf = 95:" in str(info.value) and "config =" not in str(info.value)


def test_distinct_relation():
    spec = {"batch_sizes": NumberList(positive=True)}
    check_params({"batch_sizes": [1, 2]}, spec, relations=[distinct("batch_sizes", 2)])
    for bad in ([1], [4, 4, 4]):
        with pytest.raises(ParameterError, match="batch_sizes has >= 2 distinct values"):
            check_params({"batch_sizes": bad}, spec, relations=[distinct("batch_sizes", 2)])


@pytest.mark.parametrize("values, spec, fragment", [
    ({"seq_len": 0}, {"seq_len": Integer(lo=1)}, "'seq_len' must be >= 1"),
    ({"seq_len": 2.0}, {"seq_len": Integer(lo=1)}, "whole number"),
    ({"seq_len": True}, {"seq_len": Integer(lo=1)}, "whole number"),
    ({"conf": 1.5}, {"conf": Number(lo=0, hi=1)}, "'conf' must be >= 0 and <= 1"),
    ({"c": float("inf")}, {"c": Number()}, "must be a number"),
    ({"b": [1e12, -1.0]}, {"b": NumberList(lo=0)}, "each item of 'b' must be >= 0"),
    ({"b": []}, {"b": NumberList(min_len=1)}, "at least 1"),
])
def test_ranges(values, spec, fragment):
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        check_params(values, spec)


def test_ranges_are_inclusive():
    check_params({"n": 1, "x": 0.0, "y": 1.0, "b": [0, 1]},
                 {"n": Integer(lo=1), "x": Number(lo=0, hi=1), "y": Number(lo=0, hi=1), "b": NumberList(lo=0, hi=1)})

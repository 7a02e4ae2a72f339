"""Chapter parameter validation: the papermill/YAML string traps fail with a clear message."""

import pytest

from xlstm_lab.params import Number, NumberList, ParameterError, check_params


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

"""The public API: every name users import from ``aiomq`` is there and documented."""

import inspect

import aiomq


def test_all_names_importable_from_top() -> None:
    for name in aiomq.__all__:
        assert hasattr(aiomq, name), name


def test_every_public_class_and_function_is_documented() -> None:
    undocumented = [
        name
        for name in aiomq.__all__
        if (inspect.isclass(obj := getattr(aiomq, name)) or inspect.isfunction(obj))
        and not (obj.__doc__ or "").strip()
    ]
    assert undocumented == []


def test_all_is_sorted_and_unique() -> None:
    assert list(aiomq.__all__) == sorted(set(aiomq.__all__))

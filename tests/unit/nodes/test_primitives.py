"""Primitive value nodes, StringConcatenate and PreviewAny's text formatting."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from toucan_nb.nodes.primitives import (
    PreviewAny,
    PrimitiveBoolean,
    PrimitiveFloat,
    PrimitiveInt,
    PrimitiveString,
    PrimitiveStringMultiline,
    StringConcatenate,
    format_preview,
)


@pytest.mark.parametrize(("cls", "value"), [
    (PrimitiveInt, -sys.maxsize), (PrimitiveFloat, 2.5), (PrimitiveString, "x"),
    (PrimitiveStringMultiline, "a\nb"), (PrimitiveBoolean, False),
])
def test_primitives_pass_their_value_through(cls, value):
    node = cls()
    assert getattr(node, cls.FUNCTION)(value=value) == (value,)


def test_string_concatenate():
    assert StringConcatenate().execute(string_a="foo", string_b="bar", delimiter="-") == ("foo-bar",)
    assert StringConcatenate().execute(string_a="a", string_b="b", delimiter="") == ("ab",)


def test_preview_any_matches_recorded_ui_outputs():
    # vectors/ws_transcripts/g2_preview_any.json: PrimitiveInt(42) -> {"text": ["42"]},
    # StringConcatenate("foo", "bar", "-") -> {"text": ["foo-bar"]}
    (value,) = PrimitiveInt().execute(value=42)
    assert json.dumps(PreviewAny().main(source=value)) == json.dumps({"ui": {"text": ["42"]}})
    (text,) = StringConcatenate().execute(string_a="foo", string_b="bar", delimiter="-")
    assert PreviewAny().main(source=text) == {"ui": {"text": ["foo-bar"]}}


class _Unprintable:
    def __str__(self):
        raise RuntimeError("no")


@pytest.mark.parametrize(("value", "text"), [
    (None, "None"),
    ("", ""),
    (True, "True"),
    (1.5, "1.5"),
    ({"a": [1, 2], "b": None}, '{\n    "a": [\n        1,\n        2\n    ],\n    "b": null\n}'),
    ([1, "x"], '[\n    1,\n    "x"\n]'),
    (torch.tensor([1.0, 2.0]), "tensor([1., 2.])"),
    ({"samples": torch.zeros(1)}, "{'samples': tensor([0.])}"),
    (_Unprintable(), "source exists, but could not be serialized."),
])
def test_preview_formatting(value, text):
    assert format_preview(value) == text

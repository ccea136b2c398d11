"""Streamed tool calls assembled from chat-completion deltas (daemon/tools/calls.py): OpenAI style,
Ollama style, and the deviations servers are known for."""
from __future__ import annotations

import json

from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from daemon.tools.calls import CallAssembler
from tests.support.openai_server import tool_call_chunks


def assemble(chunks) -> list:
    assembler = CallAssembler()
    for chunk in chunks:
        assembler.feed(chunk)
    return assembler.calls()


def test_openai_style_pieces_join_per_index():
    calls = assemble([
        [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}}],
        [{"index": 0, "function": {"arguments": '{"ci'}}],
        [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "time", "arguments": "{}"}}],
        [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}],
    ])
    assert [(c.id, c.name, c.arguments, c.problem) for c in calls] == [
        ("call_a", "weather", {"city": "Paris"}, ""), ("call_b", "time", {}, "")]
    assert calls[0].message() == {"id": "call_a", "type": "function",
                                  "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}


def test_the_sdk_delta_objects_are_read_too():
    deltas = [ChoiceDeltaToolCall.model_validate(d) for chunk in tool_call_chunks(
        [{"name": "weather", "arguments": {"city": "Oslo"}}], "openai") for d in chunk]
    assert [(c.name, c.arguments) for c in assemble([deltas])] == [("weather", {"city": "Oslo"})]


def test_ollama_style_whole_calls_in_one_chunk_each():
    chunks = tool_call_chunks([{"name": "a", "arguments": {"x": 1}}, {"name": "b", "arguments": {"y": [2]}}], "ollama")
    assert len(chunks) == 2
    assert [(c.name, c.arguments) for c in assemble(chunks)] == [("a", {"x": 1}), ("b", {"y": [2]})]


def test_repeated_id_and_name_on_every_piece_are_not_joined():
    piece = {"index": 0, "id": "call_x", "type": "function"}
    calls = assemble([[{**piece, "function": {"name": "weather", "arguments": '{"city":'}}],
                      [{**piece, "function": {"name": "weather", "arguments": ' "Rome"}'}}]])
    assert [(c.id, c.name, c.arguments) for c in calls] == [("call_x", "weather", {"city": "Rome"})]


def test_missing_index_follows_the_id_and_missing_id_is_made_up():
    calls = assemble([[{"id": "c1", "function": {"name": "a", "arguments": "{"}}], [{"function": {"arguments": "}"}}],
                      [{"id": "c2", "function": {"name": "b", "arguments": "{}"}}],
                      [{"index": 5, "function": {"name": "c"}}]])
    assert [(c.id, c.name, c.arguments) for c in calls] == [("c1", "a", {}), ("c2", "b", {}), ("call_2", "c", {})]


def test_a_reused_index_with_a_new_id_is_a_new_call():
    calls = assemble([[{"index": 0, "id": "c1", "function": {"name": "a", "arguments": '{"n": 1}'}}],
                      [{"index": 0, "id": "c2", "function": {"name": "a", "arguments": '{"n": 2}'}}]])
    assert [(c.id, c.arguments) for c in calls] == [("c1", {"n": 1}), ("c2", {"n": 2})]


def test_arguments_as_an_object_and_index_from_one():
    calls = assemble([[{"index": 1, "id": "c", "function": {"name": "a", "arguments": {"k": "v"}}}]])
    assert [(c.name, c.arguments, json.loads(c.raw_arguments)) for c in calls] == [("a", {"k": "v"}, {"k": "v"})]


def test_malformed_calls_carry_their_problem():
    calls = assemble([[{"index": 0, "id": "a", "function": {"name": "x", "arguments": '{"city": "Par'}}],
                      [{"index": 1, "id": "b", "function": {"name": "y", "arguments": "[1, 2]"}}],
                      [{"index": 2, "id": "c", "function": {"arguments": "{}"}}]])
    assert [c.problem.split(" (")[0] for c in calls] == [
        "its arguments are not valid JSON", "its arguments are not a JSON object", "the call names no tool"]
    assert calls[0].message()["function"]["arguments"] == "{}"  # never sent back as broken JSON
    assert assemble([]) == [] and not CallAssembler().started

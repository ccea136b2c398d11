"""The CUDA-graph path end to end on a CPU: faster-qwen3-tts' graphs through a capture stand-in.

CI has no GPU, so the graph path's Python logic (engines/tts/fast.py GraphPath, the talker
slot, the streaming loop of faster-qwen3-tts 0.5.4) is run here with torch.cuda's graph
API replaced by tests/engines/cuda_standin.py: capture records the step, each replay
re-runs it eagerly and must match the capture op for op (same tensor addresses, same
host values, no host sync). tests/engines/tts_graph_check.py runs it all in the TTS venv
on the tiny models, greedy in float32, and reports; this file asserts. What it cannot
show is the GPU's own numerics and speed: tests/bench/gpu_check.sh does.
"""
from __future__ import annotations

import pytest

from tests.engines.test_tts import child_env
from tests.support.venvs import REPO, run_check

pytestmark = pytest.mark.engine_venv("tts")


@pytest.fixture(scope="module")
def report(tts_python, tiny_models, tmp_path_factory) -> dict:
    voices = tmp_path_factory.mktemp("standin-voices")
    result = run_check(tts_python, "tests.engines.tts_graph_check", tiny_models["custom_voice"], tiny_models["base"],
                       voices, env=child_env(), timeout=300)
    assert result["engines_from"].startswith(str(REPO)), result["engines_from"]  # this checkout's engines/tts
    return result


def _spoken(report: dict) -> list[dict]:
    return [row for row in report["sentences"] if not row["cancelled"]]


def test_graph_frames_equal_the_stock_path_for_preset_xvector_and_icl_voices(report):
    assert report["loop_after_sequence"] == "sisyphus"  # our frame loop served it all: no fallback to theirs
    spoken = _spoken(report)
    assert {row["voice"] for row in spoken} >= {"ryan", "aiden", "xvec", "icl"}
    for row in spoken:
        assert row["graph_frames"] == row["stock_frames"] >= 5, row
        assert row["frames_equal"], row


def test_graph_audio_equals_the_stock_path_through_the_talker_slot(report):
    assert report["talkers_differ"]  # else a slot that swaps nothing would pass
    assert report["faults"]["unswapped_slot_seen"], "a slot that does not bring the Base weights in must show"
    assert report["swaps"] == 4, report["swaps"]  # custom -> base -> custom -> base -> custom
    for row in _spoken(report):
        assert row["audio_samples_equal"] and row["audio_peak"] > 0.05, row
        assert row["audio_max_diff"] <= 1e-5 * row["audio_peak"], row  # float rounding of other chunkings


def test_models_that_do_not_share_a_talker_get_their_own_graphs_or_the_graph_path_is_refused(report):
    apart = report["without_slot"]
    assert apart["refused"].startswith("CannotCapture: the base model does not share the custom_voice model's "
                                       "talker"), apart


def test_a_cancel_mid_sentence_stops_it_and_leaves_the_next_sentence_right(report):
    rows = report["sentences"]
    cancelled = [i for i, row in enumerate(rows) if row["cancelled"]]
    assert len(cancelled) == 1, rows
    stopped, following = rows[cancelled[0]], rows[cancelled[0] + 1]
    assert 0 < stopped["graph_frames"] < stopped["stock_frames"] and stopped["frames_equal"], stopped
    assert following["frames_equal"] and following["audio_max_diff"] <= 1e-5 * following["audio_peak"], following


def test_every_replay_matched_its_capture(report):
    graphs = {g["graph"]: g for g in report["graphs"]}
    assert set(graphs) == {"TalkerGraph._decode_step", "PredictorGraph._full_loop"}, graphs
    assert report["predictor_graphs"] == 1  # both models sample alike when greedy: one predictor graph
    frames = sum(row["graph_frames"] for row in report["sentences"])
    for graph in graphs.values():
        assert graph["captures"] == 1, graph  # captured once, before serving: never again
        # one of each per frame, and at most one step queued past the last frame handed on (the cancel)
        assert frames <= graph["replays"] <= frames + 1, (graph, frames)
        assert graph["ops_checked"] == graph["replays"] * graph["tape_ops"] > 0, graph
        assert graph["host_values_lifted"] == 0, graph


def test_the_frame_loop_reads_no_device_value_on_the_host_after_the_first_step(report):
    # steps.graph_frames reads each first code a step late from its host mailbox: no wait per frame.
    # faster-qwen3-tts' own loop (--graph-loop library) waits three times a frame, which the count sees.
    ours, library = report["loop_host_reads"]["sisyphus"], report["loop_host_reads"]["library"]
    assert ours["sentences"] >= 6 and ours["later_steps"] >= 30, ours
    assert ours["later_reads_per_step"] == [0] and ours["later_kinds"] == [], ours
    assert 3 in library["later_reads_per_step"] and any("item" in k for k in library["later_kinds"]), library


def test_the_library_frame_loop_gives_the_same_frames(report):
    assert report["library_loop_equal"] == [True, True]


def test_when_our_frame_loop_fails_the_library_loop_takes_over(report):
    fallback = report["loop_fallback"]
    before = fallback["after_0"]  # nothing spoken yet: the sentence is retried, whole and right
    assert before["error"] == "" and before["loop"] == "library", fallback
    assert before["frames"] == report["sentences"][0]["stock_frames"] and before["frames_equal"], fallback
    during = fallback["after_2"]  # two frames spoken: the sentence fails, theirs serves the next
    assert "injected" in during["error"] and during["loop"] == "library", fallback
    assert during["frames"] == 2 and during["frames_equal"], fallback
    assert len(fallback["warnings"]) == 2 and all("injected" in w for w in fallback["warnings"]), fallback


def test_each_models_sampling_has_its_own_predictor_graph_and_top_p_cannot_be_captured(report):
    sampling = report["sampling"]
    assert sampling["predictor_graphs"] == 2 and sampling["captures"] == [1, 1, 1], sampling  # + the talker graph
    for voice in ("ryan", "xvec"):
        assert sampling[voice] > 0 and sampling[f"{voice}_own_predictor_replays"] == sampling[voice], sampling
        assert sampling[f"{voice}_other_predictor_replays"] == 0, sampling
    # engines/tts/sampling.py refuses subtalker_top_p < 1 for this reason: a boolean mask in the loop
    assert sampling["top_p_capture"].startswith("HostSync") and "boolean mask" in sampling["top_p_capture"]


def test_the_standin_catches_a_host_sync_and_a_replaced_weight_in_the_real_graphs(report):
    faults = report["faults"]
    assert faults["item"].startswith("HostSync: Tensor.item()"), faults
    assert faults["storage"]["caught"].startswith("StaleAddress: replay"), faults
    assert "TalkerGraph._decode_step" in faults["storage"]["caught"], faults
    assert faults["storage"]["loop_after"] == "library", faults  # ours failed first, then theirs did too
    assert faults["storage"]["after_restore_equal"], faults


def test_the_standin_catches_each_kind_of_fault_on_a_toy_step(report):
    toy = report["toy"]
    assert toy["clean"] == {"capture_left_no_trace": True, "replays_equal_eager": True}, toy
    assert all(caught.startswith("HostSync") for caught in toy["capture"].values()), toy["capture"]
    assert set(toy["capture"]) == {"item", "tolist", "cpu", "bool", "nonzero", "boolean_mask", "synchronize"}
    assert toy["replay"]["weight_storage_replaced"].startswith("StaleAddress"), toy
    assert toy["replay"]["input_buffer_rebound"].startswith("StaleAddress"), toy
    assert toy["replay"]["python_number_changed"].startswith("FrozenValue"), toy

"""``ser analyze``: tables, JSON and the timeline PNG, through a gateway and with --local (in-process stack)."""
from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from services.cli.analyze import format_summary, format_timeline, text_table
from services.cli.main import main
from services.cli.timeline_plot import LABEL_COLOURS, plot_timeline
from shared.assets import sample_call_path
from tests.contract.tiny_model import LABELS, publish_tiny


def entry(index: int, channel: int, start_ms: int, end_ms: int, label: str, valence: float) -> dict:
    participant = ("agent", "customer")[channel]
    return {"index": index, "participant": participant,
            "segment": {"channel": channel, "speaker": participant, "start_ms": start_ms, "end_ms": end_ms},
            "emotion": {"labels": list(LABELS), "probs": [0.25] * 4, "top_label": label, "top_prob": 0.7,
                        "valence": valence, "arousal": 0.1}}


def test_text_table_aligns_columns_and_right_aligns_numbers():
    table = text_table(("name", "n"), [("a", 1), ("long name", 12.5)])
    assert table.splitlines() == ["name          n", "---------  ----", "a             1", "long name  12.5"]


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0


def colour_rows(image: np.ndarray, hex_colour: str) -> np.ndarray:
    """Row indexes (as a fraction of height) of pixels that have ``hex_colour`` (alpha-blended on white)."""
    target = 0.85 * rgb(hex_colour) + 0.15
    hit = np.all(np.abs(image[..., :3] - target) < 0.03, axis=-1)
    return np.nonzero(hit)[0] / image.shape[0]


def test_plot_colours_each_channels_segments_by_label_in_its_own_panel(tmp_path):
    import matplotlib.image as mpimg

    result = {"duration_s": 10.0, "labels": list(LABELS), "model": {"name": "m", "version": "1"},
              "timeline": [entry(0, 0, 500, 4000, "angry", -0.6), entry(1, 1, 5000, 9000, "happy", 0.8)]}
    image = mpimg.imread(plot_timeline(result, tmp_path / "t.png"))
    angry, happy = colour_rows(image, LABEL_COLOURS["angry"]), colour_rows(image, LABEL_COLOURS["happy"])
    body = (angry > 0.15) & (angry < 0.95)  # ignore the legend swatch at the top
    assert body.sum() > 1000 and angry[body].max() < 0.55, "angry fills only the first (agent) panel"
    assert (happy > 0.55).sum() > 1000 and happy[happy > 0.15].min() > 0.5, "happy fills only the customer panel"
    assert len(colour_rows(image, LABEL_COLOURS["sad"])) < 400, "sad appears only as a legend swatch"


@pytest.fixture()
def registry_env(tmp_path, monkeypatch):
    publish_tiny(tmp_path / "artifacts" / "registry")
    monkeypatch.setenv("SER_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("SER_LOG_JSON", "0")
    monkeypatch.setenv("SER_GRPC_WORKERS", "8")
    return tmp_path


def test_analyze_through_a_gateway_and_locally_print_tables_and_write_json_and_png(registry_env, capsys):
    from services.cli.local_stack import local_stack
    from shared.settings import Settings

    tmp = registry_env
    with local_stack(Settings.from_env()) as stack:
        code = main(["analyze", str(sample_call_path()), "--gateway", stack.address("gateway"),
                     "--json", str(tmp / "remote.json"), "--plot", str(tmp / "remote.png")])
    assert code == 0
    printed = capsys.readouterr().out
    remote = json.loads((tmp / "remote.json").read_text())
    assert (tmp / "remote.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {e["segment"]["channel"] for e in remote["timeline"]} == {0, 1}
    assert remote["model"] == {"name": "default", "version": "1"} and remote["labels"] == list(LABELS)
    for p in remote["participants"]:
        talk = sum(e["segment"]["end_ms"] - e["segment"]["start_ms"] for e in remote["timeline"]
                   if e["participant"] == p["participant"])
        assert p["talk_time_ms"] == talk > 0
    assert format_timeline(remote) in printed and format_summary(remote).splitlines()[2] in printed
    assert len(format_timeline(remote).splitlines()) == 2 + len(remote["timeline"])

    assert main(["analyze", str(sample_call_path()), "--local", "--json", str(tmp / "local.json")]) == 0
    local = json.loads((tmp / "local.json").read_text())
    assert [e["segment"] for e in local["timeline"]] == [e["segment"] for e in remote["timeline"]]
    labels = [[e["emotion"]["top_label"] for e in r["timeline"]] for r in (local, remote)]
    assert labels[0] == labels[1]


def test_analyze_a_missing_file_is_an_error_not_a_crash(registry_env, capsys):
    assert main(["analyze", str(registry_env / "nope.wav"), "--gateway", "127.0.0.1:1"]) == 2
    assert "no such audio file" in capsys.readouterr().err


@pytest.mark.parametrize("via", ["--gateway", "SER_GATEWAY_ADDR"])
def test_analyze_with_no_gateway_prints_one_line_with_the_fix(via, capfd, monkeypatch):
    from tests.helpers import free_port

    address = f"127.0.0.1:{free_port()}"
    argv = ["analyze", str(sample_call_path())]
    if via == "--gateway":
        argv += ["--gateway", address]
    else:
        monkeypatch.setenv("SER_GATEWAY_ADDR", address)
    code = main(argv)
    out, err = capfd.readouterr()
    assert code != 0 and out == ""
    assert err.splitlines() == [f"error (unavailable): no gateway at {address}: start the stack with 'ser up', "
                                "or add --local"]


class FakeRpcError(grpc.RpcError, grpc.Call):
    """What a stub raises: an RpcError that is also the Call with its code and details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details

    def initial_metadata(self):
        return ()

    def trailing_metadata(self):
        return ()

    def is_active(self):
        return False

    def time_remaining(self):
        return None

    def cancel(self):
        return False

    def add_callback(self, callback):
        return False


@pytest.mark.parametrize("code, details, expected", [
    (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:50054: "
     "Failed to connect to remote host: Connection refused", "no inference at 127.0.0.1:50054: start the stack"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", "Deadline Exceeded: the call ran past its deadline"),
    (grpc.StatusCode.UNAUTHENTICATED, "missing bearer token", "missing bearer token: set SER_GATEWAY_TOKEN"),
    (grpc.StatusCode.INVALID_ARGUMENT, "could not decode audio\n(corrupt)", "could not decode audio (corrupt): fix"),
    (grpc.StatusCode.NOT_FOUND, "no model 'x'", "no model 'x': check the name"),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full", "queue full: the input is over a limit"),
    (grpc.StatusCode.FAILED_PRECONDITION, "feature config differs", "feature config differs: the model does not"),
])
def test_every_grpc_failure_becomes_one_line_with_its_cause_and_fix(code, details, expected, capfd, monkeypatch):
    import services.cli.analyze as analyze_cli

    def fail(*args, **kwargs):
        raise FakeRpcError(code, details)

    monkeypatch.setattr(analyze_cli, "analyze_file", fail)
    assert main(["analyze", str(sample_call_path())]) == 1
    err = capfd.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"error ({code.name.lower()}): {expected}"), err


def test_mono_call_flags_become_analyze_options():
    import argparse

    from ser.v1 import analysis_pb2

    from services.cli.analyze import add_parser, call_options
    from services.jobs.analyze_client import analyze_options

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    parse = sub.choices["analyze"].parse_args
    assert call_options(parse(["call.wav"])) == {}
    options = analyze_options(call_options(parse(["call.wav", "--mono", "--speakers", "3", "--first-speaker",
                                                  "customer", "--no-overlap"])))
    assert (options.mix_down, options.num_speakers, options.first_speaker_role, options.skip_overlap) == \
        (True, 3, "customer", True)
    assert analyze_options(call_options(parse(["call.wav", "--no-diarize"]))).call_mode == \
        analysis_pb2.CALL_MODE_CHANNELS


def test_uncertain_rows_are_marked_and_the_summary_says_how_much_talk_was_left_out():
    sure, unsure = entry(0, 1, 0, 3000, "angry", -0.6), entry(1, 1, 3000, 4000, "happy", 0.8)
    unsure["emotion"]["uncertain"] = True
    share = {"label": "angry", "share": 1.0, "duration_ms": 3000, "segments": 1}
    customer = {"participant": "customer", "channel": 1, "talk_time_ms": 4000, "talk_share": 0.4,
                "shares": [share, {"label": "happy", "share": 0.0, "duration_ms": 0, "segments": 0}],
                "negative_turns": [], "mean_valence": -0.6, "segments": 2, "uncertain_ms": 1000,
                "uncertain_segments": 1}
    agent = {**customer, "participant": "agent", "channel": 0, "uncertain_ms": 0, "uncertain_segments": 0}
    result = {"timeline": [sure, unsure], "participants": [agent, customer], "uncertain_below": 0.45,
              "silence": {"total_ms": 6000, "share": 0.6, "overlap_ms": 0}, "duration_s": 10.0,
              "model": {"name": "m", "version": "2"}, "processing_s": 0.5}
    rows = format_timeline(result).splitlines()[2:]
    assert rows[0].split()[4] == "angry" and rows[1].split()[4] == "happy?"
    summary = format_summary(result).splitlines()
    assert summary[0].split()[5] == "uncertain"  # "talk s" is two words
    assert summary[2].split()[:5] == ["agent", "0", "4.0", "40%", "-"]
    assert "1.0 s (25%)" in summary[3] and summary[3].split()[7] == "angry"  # dominant over the confident 3 s
    assert "p below 0.45" in summary[5] and "left out of shares" in summary[5]
    del result["uncertain_below"]  # an older gateway, or a model without a threshold: no note
    assert "uncertain (p below" not in format_summary(result)

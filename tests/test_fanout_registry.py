"""Fan-outs selected in the configuration: the ``fanout`` section, the registry, and the
client that builds the fan-out and closes it with itself."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from pytest_sanctum.client import create_storage_client
from pytest_sanctum.config import parse_config
from pytest_sanctum.errors import ConfigError
from pytest_sanctum.fanout import BrokerFanout, LocalFanout
from pytest_sanctum.fanout_registry import build_fanout, registered_fanouts
from pytest_sanctum.types import InvalidationEvent, Layer


class RecordingFanout(LocalFanout):
    """A ``BrokerFanout`` in one process, remembering its options and whether it closed."""

    built: list[RecordingFanout] = []  # noqa: RUF012 (a registry of instances for the tests)

    def __init__(self, options: Mapping[str, object]) -> None:
        super().__init__()
        self.options = dict(options)
        self.closed = False
        RecordingFanout.built.append(self)

    def close(self) -> None:
        self.closed = True


def create_recording_fanout(options: Mapping[str, object]) -> RecordingFanout:
    return RecordingFanout(options)


def create_plain_fanout(options: Mapping[str, object]) -> object:
    return object()


def create_failing_fanout(options: Mapping[str, object]) -> object:
    raise RuntimeError("cannot reach the broker")


HERE = f"{__name__}"


def config(kind: str, **options: object) -> dict[str, object]:
    return {"schema_version": 1, "fanout": {"kind": kind, "options": options}}


def test_the_section_is_optional_and_frozen() -> None:
    assert parse_config({"schema_version": 1}).fanout is None
    parsed = parse_config(config("postgres", channel="c"))
    assert parsed.fanout is not None
    assert (parsed.fanout.kind, dict(parsed.fanout.options)) == ("postgres", {"channel": "c"})
    with pytest.raises(TypeError):
        parsed.fanout.options["channel"] = "d"  # type: ignore[index]
    assert parse_config(parsed.model_dump(by_alias=True)) == parsed


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"kind": ""}, "fanout.kind"),
        ({"options": {}}, "fanout.kind"),
        ({"kind": "x", "options": {"a": b"bytes"}}, "fanout.options"),
        ({"kind": "x", "channel": "c"}, "fanout.channel"),
    ],
)
def test_a_bad_section_is_refused(section: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"schema_version": 1, "fanout": section})
    assert caught.value.field == field


def test_the_client_builds_the_configured_fanout_and_closes_it() -> None:
    RecordingFanout.built.clear()
    client = create_storage_client(
        parse_config(config(f"{HERE}:create_recording_fanout", channel="c"))
    )
    (fanout,) = RecordingFanout.built
    assert fanout.options == {"channel": "c"}
    assert len(fanout.handlers()) == 1  # the client subscribed
    client.close()
    assert fanout.closed
    assert fanout.handlers() == ()


def test_a_fanout_passed_in_is_used_instead_and_left_open() -> None:
    RecordingFanout.built.clear()
    mine = LocalFanout()
    client = create_storage_client(
        parse_config(config(f"{HERE}:create_recording_fanout")), fanout=mine
    )
    client.close()
    assert RecordingFanout.built == []


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no-such-fanout", "no fan-out named 'no-such-fanout' is registered"),
        ("no_such_module_here:create", "cannot import fan-out module"),
        (f"{HERE}:missing", "has no attribute 'missing'"),
        (f"{HERE}:HERE", "is not callable"),
        (f"{HERE}:create_plain_fanout", "is not a BrokerFanout"),
        (f"{HERE}:create_failing_fanout", "RuntimeError: cannot reach the broker"),
    ],
)
def test_a_fanout_that_cannot_be_built_is_a_config_error(kind: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        create_storage_client(parse_config(config(kind)))
    assert caught.value.field == "fanout.kind"


def test_postgres_is_registered() -> None:
    assert "postgres" in registered_fanouts()


def test_a_built_fanout_delivers_between_clients() -> None:
    fanout = build_fanout(f"{HERE}:create_recording_fanout", {})
    assert isinstance(fanout, BrokerFanout)
    received: list[InvalidationEvent] = []
    fanout.subscribe(received.append)
    event = InvalidationEvent(Layer.BLOB, "ns", "k", 1, "o")
    fanout.publish(event)
    assert received == [event]

"""Bad arguments to the parity functions: the right exception, a message naming the
problem, no crash, and nothing written. The reference implementation is held to the same
exception types so either can stand in for the other."""

from __future__ import annotations

import contextlib
import mmap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parity
from parity import reference

IMPLEMENTATIONS = [pytest.param(parity, id="compiled"), pytest.param(reference, id="reference")]

DATA = [b"abcd", b"efgh", b"ijkl"]


def test_parity_error_is_a_value_error() -> None:
    assert issubclass(parity.ParityError, ValueError)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("nparity", [0, 3, -1, 2**70])
def test_nparity_out_of_range(impl: ModuleType, nparity: int) -> None:
    with pytest.raises(ValueError, match="nparity must be 1 or 2"):
        impl.encode(DATA, nparity)
    with pytest.raises(ValueError, match="nparity must be 1 or 2"):
        impl.reconstruct([*DATA, b"xxxx"], nparity)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("nparity", ["2", 2.0, None, True])
def test_nparity_of_the_wrong_type(impl: ModuleType, nparity: Any) -> None:
    with pytest.raises(TypeError, match="nparity must be an int"):
        impl.encode(DATA, nparity)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("k", [0, 1, 33, 40])
def test_data_shard_count_out_of_range(impl: ModuleType, k: int) -> None:
    with pytest.raises(ValueError, match=f"data shard count {k} is out of range 2..32"):
        impl.encode([b"ab"] * k, 1)
    with pytest.raises(ValueError, match=f"means {k} data shards, out of range 2..32"):
        impl.reconstruct([b"ab"] * (k + 2), 2)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_lengths_differ(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="shard lengths differ"):
        impl.encode([b"abcd", b"abcd", b"abc"], 2)
    with pytest.raises(ValueError, match="shard lengths differ"):
        impl.reconstruct([b"abcd", None, b"abcde", b"abcd"], 2)


def test_lengths_differ_message_names_both_shards() -> None:
    with pytest.raises(parity.ParityError,
                       match="data shard 2 is 3 bytes but data shard 0 is 4 bytes"):
        parity.encode([b"abcd", b"abcd", b"abc"], 2)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_too_many_missing_shards(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="too many missing shards: 2 are None"):
        impl.reconstruct([None, None, b"ab", b"ab"], 1)
    with pytest.raises(ValueError, match="too many missing shards: 3 are None"):
        impl.reconstruct([None, None, None, b"ab", b"ab"], 2)
    with pytest.raises(ValueError, match="too many missing shards"):
        impl.reconstruct_into([None, None, None, b"ab", b"ab"], 2, [bytearray(2)] * 5)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_output_count_must_match(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"1 \(P\) or 2 \(P, Q\) parity buffers, not 3"):
        impl.encode_into(DATA, [bytearray(4)] * 3)
    with pytest.raises(ValueError, match="not 0"):
        impl.encode_into(DATA, [])
    full = DATA + parity.encode(DATA, 2)
    with pytest.raises(ValueError, match="out has 4 entries but there are 5 shards"):
        impl.reconstruct_into([None, *full[1:]], 2, [bytearray(4), None, None, None])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_output_length_must_match(impl: ModuleType) -> None:
    with pytest.raises(ValueError, match="output 0 is 5 bytes"):
        impl.encode_into(DATA, [bytearray(5)])
    full = DATA + parity.encode(DATA, 1)
    with pytest.raises(ValueError, match="output 1 is 3 bytes"):
        impl.reconstruct_into([full[0], None, *full[2:]], 1, [None, bytearray(3), None, None])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_missing_output_for_a_lost_shard(impl: ModuleType) -> None:
    full = DATA + parity.encode(DATA, 1)
    with pytest.raises(ValueError, match="shard 1 is missing but output 1 is None"):
        impl.reconstruct_into([full[0], None, *full[2:]], 1, [None] * 4)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_read_only_outputs_are_refused(impl: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "ro"
    path.write_bytes(bytes(4))
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as ro_map:
        for read_only in (bytes(4), memoryview(bytearray(4)).toreadonly(), ro_map):
            with pytest.raises(ValueError, match="output 0 is a read-only buffer"):
                impl.encode_into(DATA, [read_only])
            full = DATA + parity.encode(DATA, 1)
            with pytest.raises(ValueError, match="output 0 is a read-only buffer"):
                impl.reconstruct_into([None, *full[1:]], 1, [read_only, None, None, None])
    assert path.read_bytes() == bytes(4)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_non_contiguous_buffers_are_refused(impl: ModuleType) -> None:
    strided = memoryview(bytearray(8))[::2]
    with pytest.raises(ValueError, match="data shard 1 is not a contiguous buffer"):
        impl.encode([b"abcd", strided, b"abcd"], 1)
    with pytest.raises(ValueError, match="not a contiguous buffer"):
        impl.encode_into(DATA, [strided])


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("bad", [1234, "text", object(), [1, 2]])
def test_shards_that_are_not_buffers(impl: ModuleType, bad: object) -> None:
    with pytest.raises(TypeError, match="data shard 1 must be a bytes-like object"):
        impl.encode([b"ab", bad, b"ab"], 1)
    with pytest.raises(TypeError, match="shard 2 must be a bytes-like object"):
        impl.reconstruct([b"ab", None, bad, b"ab"], 2)


@pytest.mark.parametrize("bad", [b"abcdef", bytearray(6), 42, None])
def test_data_that_is_not_a_sequence_of_shards(bad: object) -> None:
    with pytest.raises(TypeError, match="must be a sequence of buffers"):
        parity.encode(bad, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a sequence of buffers"):
        parity.reconstruct(bad, 1)  # type: ignore[arg-type]


def test_overlapping_outputs_are_refused() -> None:
    backing = bytearray(8)
    with pytest.raises(parity.ParityError, match="output 0 overlaps output 1"):
        parity.encode_into(DATA, [memoryview(backing)[:4], memoryview(backing)[2:6]])
    data = [bytearray(b"abcd"), bytearray(b"efgh"), bytearray(b"ijkl")]
    with pytest.raises(parity.ParityError, match="output 0 overlaps data shard 1"):
        parity.encode_into(data, [data[1]])
    full = [bytearray(s) for s in DATA + parity.encode(DATA, 1)]
    with pytest.raises(parity.ParityError, match="output 0 overlaps shard 2"):
        parity.reconstruct_into([None, *full[1:]], 1, [full[2], None, None, None])
    assert full[2] == bytearray(DATA[2])


def test_a_refused_call_writes_nothing() -> None:
    out = [bytearray(b"...."), bytearray(b"...")]
    with pytest.raises(parity.ParityError):
        parity.encode_into(DATA, out)
    assert out == [bytearray(b"...."), bytearray(b"...")]


SHARD_ITEMS = st.one_of(
    st.none(),
    st.binary(max_size=40),
    st.binary(max_size=40).map(bytearray),
    st.binary(max_size=40).map(lambda b: memoryview(b)[1:]),
    st.integers(),
    st.text(max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(shards=st.lists(SHARD_ITEMS, max_size=36), nparity=st.one_of(st.integers(-1, 3),
                                                                    st.none()),
       outs=st.lists(st.one_of(st.none(), st.binary(max_size=40).map(bytearray),
                               st.binary(max_size=8)), max_size=36))
def test_fuzzed_arguments_raise_only_type_or_value_errors(
    shards: list[Any], nparity: Any, outs: list[Any]
) -> None:
    for call in (
        lambda: parity.encode(shards, nparity),
        lambda: parity.reconstruct(shards, nparity),
        lambda: parity.encode_into(shards, outs),
        lambda: parity.reconstruct_into(shards, nparity, outs),
    ):
        # Anything else (SystemError, BufferError, a crash) fails the test.
        with contextlib.suppress(TypeError, ValueError):
            call()


def test_repeated_calls_do_not_leak_memory() -> None:
    """Success and error paths alike release every buffer view and temporary object."""
    import tracemalloc

    data = [bytearray(b"x" * 1000), b"y" * 1000, memoryview(b"z" * 1001)[1:]]
    full = [bytes(s) for s in data] + parity.encode(data, 2)
    out = [bytearray(1000), bytearray(1000)]

    def churn() -> None:
        for _ in range(200):
            parity.encode(data, 2)
            parity.encode_into(data, out)
            parity.reconstruct([None, *full[1:3], None, full[4]], 2)
            parity.reconstruct_into([None, *full[1:4], None], 2, [out[0], None, None, None,
                                                                    out[1]])
            for bad in (lambda: parity.encode([*data, b"short"], 2),
                        lambda: parity.encode_into(data, [b"ro" * 500]),
                        lambda: parity.reconstruct([None, None, None, *full[3:]], 2)):
                with contextlib.suppress(ValueError):
                    bad()

    churn()  # warm caches (interned strings, free lists)
    tracemalloc.start()
    try:
        churn()
        before, _ = tracemalloc.get_traced_memory()
        churn()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 10_000


def test_list_changed_by_another_thread_during_a_call_is_harmless() -> None:
    import threading

    size = 1 << 20
    shards: list[bytes | None] = [bytes([i]) * size for i in range(8)] + [None, None]
    stop = threading.Event()

    def mutate() -> None:
        while not stop.is_set():
            # Shrink and regrow: a call that re-read the caller's list after the kernels
            # would index past its end.
            last = shards.pop()
            shards.append(last)

    thread = threading.Thread(target=mutate)
    thread.start()
    try:
        for _ in range(50):
            with contextlib.suppress(ValueError, TypeError):
                parity.reconstruct(shards, 2)
    finally:
        stop.set()
        thread.join()

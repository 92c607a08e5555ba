"""The compiled parity module against the pure-Python reference and fixed vectors.

Every test that computes parity runs at every SIMD level this CPU has, because the levels
are separate code (a bug in the AVX2 kernel would hide behind a passing AVX-512 one).
"""

from __future__ import annotations

import hashlib
import itertools
import mmap
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parity
from parity import _parity, reference

LEVELS = _parity._levels()

# Lengths around the vector widths (16..256 B), the 8 KiB column block, and beyond 64 KiB.
EDGE_LENGTHS = [0, 1, 2, 7, 15, 16, 17, 63, 127, 128, 129, 255, 256, 257, 8191, 8192, 8193,
                8192 * 2 + 300, 65536 + 77]


@contextmanager
def simd_level(level: str) -> Iterator[None]:
    saved = parity.simd_level()
    _parity._set_level(level)
    try:
        yield
    finally:
        _parity._set_level(saved)


def random_shards(k: int, length: int, seed: int) -> list[bytes]:
    stream = hashlib.shake_256(f"shards {k} {length} {seed}".encode()).digest(k * length)
    return [stream[i * length:(i + 1) * length] for i in range(k)]


def as_kind(data: bytes, kind: str) -> object:
    """The same bytes as another buffer-protocol object, unaligned where the kind says so."""
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    if kind == "writable_memoryview":
        return memoryview(bytearray(data))
    offset = {"unaligned1": 1, "unaligned3": 3, "unaligned13": 13}[kind]
    backing = bytearray(offset) + bytearray(data) + bytearray(5)
    return memoryview(backing)[offset:offset + len(data)]


BUFFER_KINDS = ["bytes", "bytearray", "memoryview", "unaligned1", "unaligned3", "unaligned13"]


# ---------------------------------------------------------------- fixed vectors


@pytest.mark.parametrize("level", LEVELS)
def test_known_answer_small_vector_checked_by_hand(level: str) -> None:
    # Column 0: 1 ^ 2 ^ 4 = 7; column 1: 0x80 * (1 ^ 2 ^ 4) = 0x80 ^ 0x1d ^ 0x3a = 0xa7;
    # column 4: D_0 alone, and Q of D_0 alone is D_0 (g^0 = 1), as in Linux md.
    data = [b"\x01\x80\xff\x00\x10", b"\x01\x80\xff\x53\x00", b"\x01\x80\xff\xca\x00"]
    with simd_level(level):
        assert parity.encode(data, 2) == [bytes.fromhex("0180ff9910"),
                                          bytes.fromhex("07a7c7a910")]
        assert parity.encode(data, 1) == [bytes.fromhex("0180ff9910")]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("index", [0, 1, 7, 8, 31])
def test_q_of_one_byte_in_shard_i_is_g_to_the_i(level: str, index: int) -> None:
    data = [bytes(3) for _ in range(32)]
    data[index] = b"\x01\x01\x01"
    expected = reference.gf_pow(2, index)
    with simd_level(level):
        p, q = parity.encode(data, 2)
    assert p == b"\x01\x01\x01"
    assert q == bytes([expected] * 3)


GOLDEN = {
    # sha256 of the concatenated parity shards of a fixed input: any change to the on-disk
    # parity format (polynomial, generator, shard order) fails here.
    (8, 100_003, 1): "425afd74d98fe40bcfee9438a58914f40da49b3bee45305468c660ff0afe24fa",
    (8, 100_003, 2): "ab571231a37b348114b07a5cbec6fb0b1de6e97550351d11babd70f374be270a",
    (32, 4099, 2): "55f056bbee5fa4347c7353265408369dba29bc62a690cc632bd634093e5080b3",
}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("k", "length", "nparity"), sorted(GOLDEN))
def test_golden_digest_of_parity(level: str, k: int, length: int, nparity: int) -> None:
    label = b"nasfs parity golden vector" + (b" 32" if k == 32 else b"")
    stream = hashlib.shake_256(label).digest(k * length)
    data = [stream[i * length:(i + 1) * length] for i in range(k)]
    with simd_level(level):
        out = parity.encode(data, nparity)
    assert hashlib.sha256(b"".join(out)).hexdigest() == GOLDEN[(k, length, nparity)]


def test_reference_matches_golden_digest() -> None:
    stream = hashlib.shake_256(b"nasfs parity golden vector").digest(8 * 100_003)
    data = [stream[i * 100_003:(i + 1) * 100_003] for i in range(8)]
    digest = hashlib.sha256(b"".join(reference.encode(data, 2))).hexdigest()
    assert digest == GOLDEN[(8, 100_003, 2)]


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(2, 32),
    nparity=st.sampled_from([1, 2]),
    length=st.one_of(st.integers(0, 3000), st.sampled_from(EDGE_LENGTHS)),
    kind=st.sampled_from(BUFFER_KINDS),
    seed=st.integers(0, 2**32),
)
def test_encode_matches_reference(
    level: str, k: int, nparity: int, length: int, kind: str, seed: int
) -> None:
    data = random_shards(k, length, seed)
    expected = reference.encode(data, nparity)
    shards = [as_kind(d, kind) for d in data]
    with simd_level(level):
        assert parity.encode(shards, nparity) == expected  # type: ignore[arg-type]
        writable = {"bytes": "bytearray", "memoryview": "writable_memoryview"}.get(kind, kind)
        out = [as_kind(bytes([0x5A]) * length, writable) for _ in range(nparity)]
        parity.encode_into(shards, out)  # type: ignore[arg-type]
    assert [bytes(o) for o in out] == expected  # type: ignore[call-overload]
    assert [bytes(s) for s in shards] == data  # type: ignore[call-overload]


def lost_sets(n: int, nparity: int) -> list[tuple[int, ...]]:
    return [c for r in range(1, nparity + 1) for c in itertools.combinations(range(n), r)]


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(2, 6),
    nparity=st.sampled_from([1, 2]),
    length=st.one_of(st.integers(0, 2000), st.sampled_from(EDGE_LENGTHS)),
    kind=st.sampled_from(BUFFER_KINDS),
    seed=st.integers(0, 2**32),
)
def test_reconstruct_every_lost_set_small_k(
    level: str, k: int, nparity: int, length: int, kind: str, seed: int
) -> None:
    data = random_shards(k, length, seed)
    full = data + reference.encode(data, nparity)
    with simd_level(level):
        for lost in lost_sets(k + nparity, nparity):
            shards = [None if i in lost else as_kind(s, kind) for i, s in enumerate(full)]
            assert parity.reconstruct(shards, nparity) == full, lost  # type: ignore[arg-type]
            out: list[bytearray | None] = [bytearray(length) if i in lost else None
                                           for i in range(len(full))]
            parity.reconstruct_into(shards, nparity, out)  # type: ignore[arg-type]
            for i in lost:
                assert out[i] == full[i], (lost, i)


@pytest.mark.parametrize("level", LEVELS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    k=st.integers(2, 32),
    nparity=st.sampled_from([1, 2]),
    length=st.one_of(st.integers(0, 3000), st.sampled_from(EDGE_LENGTHS)),
    kind=st.sampled_from(BUFFER_KINDS),
    data_seed=st.integers(0, 2**32),
    lost_seed=st.randoms(use_true_random=False),
)
def test_reconstruct_matches_reference_any_k(
    level: str, k: int, nparity: int, length: int, kind: str, data_seed: int,
    lost_seed: object,
) -> None:
    data = random_shards(k, length, data_seed)
    full = data + reference.encode(data, nparity)
    lost = lost_seed.sample(range(k + nparity), lost_seed.randint(1, nparity))  # type: ignore[attr-defined]
    shards = [None if i in lost else as_kind(s, kind) for i, s in enumerate(full)]
    assert reference.reconstruct(shards, nparity) == full  # type: ignore[arg-type]
    with simd_level(level):
        assert parity.reconstruct(shards, nparity) == full  # type: ignore[arg-type]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("length", [1, 129, 8192 + 131])
def test_every_pair_of_lost_shards_with_32_data_shards(level: str, length: int) -> None:
    data = random_shards(32, length, 7)
    full = data + reference.encode(data, 2)
    with simd_level(level):
        for lost in lost_sets(34, 2):
            shards = [None if i in lost else s for i, s in enumerate(full)]
            assert parity.reconstruct(shards, 2) == full, lost


@pytest.mark.parametrize("level", LEVELS)
def test_reconstruct_with_nothing_lost_returns_shards_as_bytes(level: str) -> None:
    data = random_shards(3, 100, 1)
    full = data + parity.encode(data, 2)
    shards = [bytearray(s) for s in full]
    with simd_level(level):
        got = parity.reconstruct(shards, 2)
        parity.reconstruct_into(shards, 2, [None] * 5)
    assert got == full
    assert all(type(s) is bytes for s in got)


@pytest.mark.parametrize("level", LEVELS)
def test_mmap_shards_and_outputs(level: str, tmp_path: Path) -> None:
    k, length = 5, 70_001
    data = random_shards(k, length, 3)
    expected = reference.encode(data, 2)
    path = tmp_path / "stripe"
    path.write_bytes(b"".join(data) + bytes(2 * length))
    with path.open("r+b") as f, mmap.mmap(f.fileno(), 0) as mm:
        view = memoryview(mm)
        shards = [view[i * length:(i + 1) * length] for i in range(k + 2)]
        scratch = bytearray(2 * length)
        try:
            with simd_level(level):
                parity.encode_into(shards[:k], shards[k:])
                assert bytes(shards[k]) == expected[0]
                assert bytes(shards[k + 1]) == expected[1]
                lost = [None if i in (1, k) else s for i, s in enumerate(shards)]
                out: list[memoryview | None] = [None] * (k + 2)
                out[1], out[k] = memoryview(scratch)[:length], memoryview(scratch)[length:]
                parity.reconstruct_into(lost, 2, out)
            assert scratch == data[1] + expected[0]
        finally:
            # The mapping cannot close while views of it are alive.
            for s in shards:
                s.release()
            view.release()


# ---------------------------------------------------------------- dispatch and self-test


def test_simd_level_is_a_known_name_and_the_best_available() -> None:
    assert parity.simd_level() in {"generic", "sse2", "ssse3", "avx2", "avx512", "avx512gfni"}
    assert parity.simd_level() == LEVELS[-1]
    assert LEVELS[0] == "generic"


def test_selftest_passes_and_keeps_the_level() -> None:
    before = parity.simd_level()
    parity.selftest()
    assert parity.simd_level() == before


@pytest.mark.parametrize("level", LEVELS)
def test_environment_pins_the_level_for_a_process(level: str) -> None:
    env = dict(os.environ, PARITY_SIMD_LEVEL=level)
    code = "import parity; parity.selftest(); print(parity.simd_level())"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == level


# ---------------------------------------------------------------- threads


@pytest.mark.parametrize("operation", ["encode", "encode_into", "reconstruct",
                                       "reconstruct_into"])
def test_gil_is_released_while_computing(operation: str) -> None:
    """A watcher thread woken just before the calls can only run while the main thread
    is inside a call that dropped the GIL: the switch interval is set far beyond the test's
    length, so the interpreter never takes the GIL away from the main thread by force."""
    k, length = 8, 1 << 20
    data = random_shards(k, length, 11)
    full = data + parity.encode(data, 2)
    lost: list[bytes | None] = [None, *full[1:k], None, full[k + 1]]
    out: list[bytearray | None] = [bytearray(length), *[None] * (k - 1), bytearray(length), None]
    calls = {
        "encode": lambda: parity.encode(data, 2),
        "encode_into": lambda: parity.encode_into(data, [out[0], out[k]]),
        "reconstruct": lambda: parity.reconstruct(lost, 2),
        "reconstruct_into": lambda: parity.reconstruct_into(lost, 2, out),
    }
    call = calls[operation]
    state = {"in_call": False}
    seen: list[bool] = []
    go = threading.Event()

    def watcher() -> None:
        go.wait()
        seen.append(state["in_call"])

    saved_interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    try:
        thread = threading.Thread(target=watcher)
        thread.start()
        state["in_call"] = True
        go.set()
        for _ in range(2000):
            call()
            if seen:
                break
        state["in_call"] = False
        thread.join()
    finally:
        sys.setswitchinterval(saved_interval)
    assert seen == [True]


def test_concurrent_calls_from_threads_give_correct_results() -> None:
    stripes = [random_shards(6, 300_001, seed) for seed in range(4)]
    expected = [reference.encode(d, 2) for d in stripes]
    results: dict[int, list[bytes]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(5):
                full = stripes[i] + parity.encode(stripes[i], 2)
                lost = [None if j in (i % 6, (i + 2) % 6) else s for j, s in enumerate(full)]
                results[i] = parity.reconstruct(lost, 2)[6:]
                assert parity.reconstruct(lost, 2)[:6] == stripes[i]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [results[i] for i in range(4)] == expected

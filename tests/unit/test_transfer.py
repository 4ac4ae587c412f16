"""The upload protocol's scripts and codecs, run with the real local tools."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from siteproof.remote import transfer

TEXT = b"".join(
    b"usr/lib/python3/dist-packages/module_%05d.py\n" % i for i in range(1 << 16)
)


@pytest.mark.parametrize("codec", [transfer.ZSTD, transfer.GZIP, transfer.PLAIN])
def test_codec_roundtrips_through_the_hosts_decoder(codec: transfer.WireCodec) -> None:
    if shutil.which(codec.decode_command.split()[0]) is None:
        pytest.skip(f"{codec.decode_command} is not installed here")
    compress = codec.new_compressor()
    wire = b"".join(
        compress(TEXT[i : i + 100_000]) for i in range(0, len(TEXT), 100_000)
    )
    wire += compress(None)
    decoded = subprocess.run(
        ["sh", "-c", codec.decode_command], input=wire, capture_output=True, check=True
    ).stdout
    assert decoded == TEXT
    if codec is not transfer.PLAIN:
        assert len(wire) < len(TEXT) / 3


def test_choose_codec_prefers_zstd_then_gzip_then_none() -> None:
    assert transfer.choose_codec(frozenset({"zstd", "gzip"}), TEXT) is transfer.ZSTD
    assert transfer.choose_codec(frozenset({"gzip"}), TEXT) is transfer.GZIP
    assert transfer.choose_codec(frozenset({"sha256sum"}), TEXT) is transfer.PLAIN


def test_choose_codec_sends_incompressible_data_plain() -> None:
    noise = os.urandom(1 << 20)
    assert transfer.choose_codec(frozenset({"zstd", "gzip"}), noise) is transfer.PLAIN


def test_parse_probe_reads_tools_and_sizes() -> None:
    state = transfer.parse_probe("tool zstd\ntool sha256sum\nfinal 10\npart  7\n")
    assert state.tools == frozenset({"zstd", "sha256sum"})
    assert (state.final_size, state.part_size) == (10, 7)
    assert transfer.parse_probe("").part_size is None


def _run_receive(tmp_path: Path, data: bytes, offset: int, sha256: str) -> str:
    target = str(tmp_path / "dir" / "file.bin")
    probe = subprocess.run(
        ["sh", "-c", transfer.probe_script(target)], capture_output=True, check=True
    )
    assert b"tool sha256sum" in probe.stdout
    script = transfer.receive_script(target, transfer.GZIP, offset, sha256, len(data))
    compress = transfer.GZIP.new_compressor()
    wire = compress(data[offset:]) + compress(None)
    return subprocess.run(
        ["sh", "-c", script], input=wire, capture_output=True, check=True, text=False
    ).stdout.decode()


def test_receive_script_verifies_then_renames(tmp_path: Path) -> None:
    digest = hashlib.sha256(TEXT).hexdigest()
    receipt = transfer.parse_receipt(_run_receive(tmp_path, TEXT, 0, digest))
    assert receipt == transfer.Receipt(sha256=digest, size=len(TEXT), renamed=True)
    assert (tmp_path / "dir" / "file.bin").read_bytes() == TEXT


def test_receive_script_appends_to_a_kept_prefix(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file.bin.part").write_bytes(TEXT[:5000])
    digest = hashlib.sha256(TEXT).hexdigest()
    receipt = transfer.parse_receipt(_run_receive(tmp_path, TEXT, 5000, digest))
    assert receipt.renamed
    assert (tmp_path / "dir" / "file.bin").read_bytes() == TEXT


def test_receive_script_keeps_the_part_when_the_hash_differs(tmp_path: Path) -> None:
    receipt = transfer.parse_receipt(_run_receive(tmp_path, TEXT, 0, "0" * 64))
    assert not receipt.renamed
    assert receipt.sha256 == hashlib.sha256(TEXT).hexdigest()
    assert not (tmp_path / "dir" / "file.bin").exists()
    assert (tmp_path / "dir" / "file.bin.part").read_bytes() == TEXT


def test_hash_prefix_matches_the_hosts_head_and_sha256sum(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(TEXT)
    script = transfer.hash_script(str(path), 12345)
    out = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True
    )
    assert transfer.parse_hash(out.stdout) == transfer.hash_prefix(path, 12345)

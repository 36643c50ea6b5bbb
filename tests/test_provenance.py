"""File and configuration digests, the code's version and the libraries' versions."""

from __future__ import annotations

import hashlib
import re
import subprocess
from importlib import metadata

import spinetumor
from spinetumor import provenance


def test_sha256_file_matches_hashlib_across_chunks(tmp_path):
    data = bytes(range(256)) * 1000  # 256 kB read in 10 kB chunks
    path = tmp_path / "weights.pt"
    path.write_bytes(data)
    assert provenance.sha256_file(path, chunk=10_000) == hashlib.sha256(data).hexdigest()


def test_sha256_json_ignores_key_order_but_not_values():
    a = {"lr": 0.01, "stages": {"cord": [1, 2], "lesion": None}}
    b = {"stages": {"lesion": None, "cord": [1, 2]}, "lr": 0.01}
    assert provenance.sha256_json(a) == provenance.sha256_json(b)
    assert provenance.sha256_json(a) != provenance.sha256_json({**a, "lr": 0.001})
    assert provenance.sha256_json({"stages": {"cord": [2, 1]}}) != provenance.sha256_json(
        {"stages": {"cord": [1, 2]}}
    )


def test_code_version_names_the_checkout_commit():
    # The tests run from the project's git checkout: the version carries its HEAD.
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    version = provenance.code_version()
    assert re.fullmatch(rf"{re.escape(spinetumor.__version__)}\+g{head[:12]}(\.dirty)?", version), version


def test_library_versions_are_the_installed_ones():
    versions = provenance.library_versions(["torch", "numpy", "not-a-distribution-xyz"])
    assert versions["torch"] == metadata.version("torch") and versions["numpy"] == metadata.version("numpy")
    assert "not-a-distribution-xyz" not in versions
    assert re.fullmatch(r"3\.11\.\d+", versions["python"])

"""The participants table and the health declaration read from it."""

from __future__ import annotations

import pytest

from spinetumor.data.participants import HealthDeclaration, is_healthy, read_participants

LESIONS = {"lesions": {"format": "dseg", "healthy": {"values": ["Healthy", " control "]}}}


def test_read_participants_checks_columns(tmp_path):
    path = tmp_path / "participants.tsv"
    path.write_text("participant_id\tpathology\n01\tependymoma\nsub-02\tn/a\n")
    table = read_participants(path, "pathology")
    assert list(table.index) == ["sub-01", "sub-02"]
    assert table.at["sub-01", "pathology"] == "ependymoma"
    assert table["pathology"].isna().tolist() == [False, True]
    with pytest.raises(ValueError, match="no 'tumour_type' column"):
        read_participants(path, "tumour_type")


def test_read_participants_needs_the_table_and_its_id_column(tmp_path):
    with pytest.raises(FileNotFoundError, match="participants table not found"):
        read_participants(tmp_path / "participants.tsv")
    (tmp_path / "participants.tsv").write_text("subject\tpathology\n01\tependymoma\n")
    with pytest.raises(ValueError, match="no 'participant_id' column"):
        read_participants(tmp_path / "participants.tsv")


def test_is_healthy_compares_case_insensitively():
    assert is_healthy("Healthy", ["healthy"]) and is_healthy(" control", ["Control"])
    assert not is_healthy("healthy-ish", ["healthy"]) and not is_healthy(None, ["healthy"])


def test_health_declaration_reads_the_column_and_says_why_not(tmp_path):
    tsv = tmp_path / "participants.tsv"
    tsv.write_text("participant_id\tpathology\nsub-01\tHEALTHY\nsub-02\tependymoma\nsub-03\tn/a\n")
    health = HealthDeclaration.from_config(LESIONS, tsv, "pathology")
    assert health.values == {"healthy", "control"}
    assert health.table == {"sub-01": "HEALTHY", "sub-02": "ependymoma", "sub-03": None}
    assert [health.healthy(p) for p in ("sub-01", "sub-02", "sub-03", "sub-04")] == [
        True,
        False,
        False,
        False,
    ]
    assert health.why_not("sub-02") == (
        f"sub-02 is not declared healthy ('pathology' is 'ependymoma' in {tsv}; healthy values: control, healthy)"
    )
    assert health.why_not("sub-03") == (
        f"sub-03 is not declared healthy (no 'pathology' value in {tsv}; healthy values: control, healthy)"
    )


def test_health_declaration_without_a_column_or_lesion_labels():
    nobody = HealthDeclaration.from_config({"lesions": {}}, None, None)
    assert not nobody.healthy("sub-01") and nobody.source == "no participants table"
    assert nobody.why_not("sub-01") == (
        "sub-01 is not declared healthy (no participants.tsv column is configured "
        "(labels.lesions.healthy.column); healthy values: none configured)"
    )
    assert HealthDeclaration.from_config({"lesions": {"format": "none"}}, None, None).healthy("sub-01")

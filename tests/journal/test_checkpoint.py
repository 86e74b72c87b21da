"""Signed checkpoints: keys on disk, signing the head, and catching a rewritten chain."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

from charter import settings
from charter.errors import JournalError
from charter.journal import (
    Checkpoint,
    Journal,
    JournalSigner,
    checkpoint_message,
    load_or_create_signer,
    load_verifier,
    verify_chain,
)
from charter.runtime import Runner
from charter.testing import ScriptedReasoner, make_agent, respond
from tampering import rewrite_chain_from


@pytest.fixture
def signer(tmp_path: Path) -> JournalSigner:
    return load_or_create_signer(tmp_path / "keys" / "journal.pem")


@pytest.fixture
def journal(journal_url: str, signer: JournalSigner) -> Journal:
    j = Journal(journal_url, signer)
    for i in range(1, 11):
        j.append([(f"run{i % 3}", "step.proposed", {"i": i, "tool": "refund_order"})])
    return j


def _sql(journal: Journal, statement: str, **params: object) -> None:
    with journal.engine.begin() as conn:
        conn.execute(text(statement), params)


def _kinds(journal: Journal) -> list[tuple[str, int]]:
    return [(p.kind, p.seq) for p in journal.verify().problems]


# Keys on disk


def test_new_key_is_private_and_its_public_key_is_written_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "journal.pem"

    signer = load_or_create_signer(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    pub = path.with_name("journal.pem.pub")
    assert pub.read_text() == signer.public_pem()
    assert pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert load_verifier(pub).key_id == signer.key_id
    assert len(signer.key_id) == 16
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_reloading_the_key_gives_the_same_key_id(tmp_path: Path) -> None:
    path = tmp_path / "journal.pem"
    first = load_or_create_signer(path)
    path.with_name("journal.pem.pub").unlink()

    again = load_or_create_signer(path)

    assert again.key_id == first.key_id
    assert path.with_name("journal.pem.pub").read_text() == first.public_pem()


def test_existing_directory_permissions_are_left_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)

    load_or_create_signer(tmp_path / "journal.pem")

    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755


def test_signer_repr_shows_only_the_key_id(signer: JournalSigner) -> None:
    assert repr(signer) == f"JournalSigner(key_id={signer.key_id!r})"


def test_corrupt_key_file_is_a_clear_error_without_key_material(tmp_path: Path) -> None:
    path = tmp_path / "journal.pem"
    load_or_create_signer(path)
    body = path.read_text().splitlines()[1]
    path.write_text(path.read_text()[:60])  # cut mid-key

    with pytest.raises(JournalError, match=r"journal\.pem is not an unencrypted PEM private key"):
        load_or_create_signer(path)
    with pytest.raises(JournalError) as caught:
        load_or_create_signer(path)
    assert body[20:40] not in str(caught.value)
    assert "restore the key from backup" in str(caught.value)


def test_key_of_another_algorithm_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.pem"
    other = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with pytest.raises(JournalError, match=r"journal\.pem holds a .*, not an Ed25519 key"):
        load_or_create_signer(path)


def test_unreadable_key_path_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "journal.pem").mkdir()

    with pytest.raises(JournalError, match=r"cannot read signing key .*journal\.pem"):
        load_or_create_signer(tmp_path / "journal.pem")


def test_key_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")

    with pytest.raises(JournalError, match=r"cannot create signing key .*CHARTER_SIGNING_KEY"):
        load_or_create_signer(blocker / "keys" / "journal.pem")


def test_public_key_that_is_not_one_is_a_clear_error(tmp_path: Path, signer: JournalSigner) -> None:
    private = tmp_path / "keys" / "journal.pem"

    with pytest.raises(JournalError, match=r"journal\.pem is not a PEM public key.*pass the \.pub"):
        load_verifier(private)
    with pytest.raises(JournalError, match="cannot read public key"):
        load_verifier(tmp_path / "absent.pub")


def test_signing_key_path_defaults_under_charter_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    monkeypatch.delenv("CHARTER_SIGNING_KEY", raising=False)
    assert settings.signing_key_path() == tmp_path / "keys" / "journal-ed25519.pem"

    monkeypatch.setenv("CHARTER_SIGNING_KEY", str(tmp_path / "elsewhere.pem"))
    assert settings.signing_key_path() == tmp_path / "elsewhere.pem"


def test_signed_message_is_the_documented_bytes(signer: JournalSigner) -> None:
    assert checkpoint_message(42, "ab" * 32) == b"charter-journal-checkpoint\x1f42\x1f" + b"ab" * 32
    signature = signer.sign(42, "ab" * 32)
    checkpoint = Checkpoint(42, "ab" * 32, signer.key_id, signature.hex(), "t")
    assert signer.verifier.verify(checkpoint)
    assert not signer.verifier.verify(
        Checkpoint(43, "ab" * 32, signer.key_id, signature.hex(), "t")
    )


# Writing checkpoints


def test_checkpoint_is_a_no_op_without_a_signer(journal_url: str) -> None:
    journal = Journal(journal_url)
    journal.append([("r1", "a", {})])

    assert journal.checkpoint() is None
    assert journal.checkpoints() == []


def test_checkpoint_of_an_empty_journal_is_a_no_op(journal_url: str, signer: JournalSigner) -> None:
    assert Journal(journal_url, signer).checkpoint() is None


def test_checkpoint_signs_the_head_once(journal: Journal, signer: JournalSigner) -> None:
    made = journal.checkpoint()

    assert made is not None
    head = list(journal.records())[-1]
    assert (made.seq, made.hash, made.key_id) == (10, head.hash, signer.key_id)
    assert journal.checkpoint() is None  # head unchanged: nothing new to sign
    assert journal.checkpoints() == [made]

    journal.append([("r1", "a", {})])
    later = journal.checkpoint()
    assert later is not None
    assert later.seq == 11
    assert [c.seq for c in journal.checkpoints()] == [10, 11]


def test_checkpoint_covers_records_other_writers_appended(
    journal_url: str, signer: JournalSigner
) -> None:
    mine, other = Journal(journal_url, signer), Journal(journal_url)
    mine.append([("r1", "a", {})])
    other.append([("r2", "b", {})])

    made = mine.checkpoint()

    assert made is not None
    assert made.seq == 2
    assert Journal(journal_url, signer).checkpoint() is None  # another process: same head


# Verifying checkpoints


def test_intact_journal_verifies_its_checkpoints(journal: Journal) -> None:
    journal.checkpoint()

    report = journal.verify()

    assert report.ok
    assert (report.checkpoints_checked, report.checkpoints_unchecked) == (1, 0)
    assert report.signed_through == 10


def test_full_rewrite_passes_the_chain_but_not_the_checkpoint(
    journal: Journal, journal_url: str
) -> None:
    journal.checkpoint()

    rewrite_chain_from(journal, 3, '{"i":3,"tool":"send_email"}')

    unsigned = Journal(journal_url).verify()
    assert unsigned.ok  # the hash chain alone cannot tell
    assert unsigned.checkpoints_unchecked == 1
    problems = journal.verify().problems
    assert [(p.kind, p.seq) for p in problems] == [("rewritten", 10)]
    assert "the journal up to seq 10 was rewritten" in problems[0].message


def test_every_checkpoint_after_the_rewrite_is_named(journal: Journal) -> None:
    journal.append([("r1", "a", {})])
    journal.checkpoint()  # seq 11
    _sql(journal, "DELETE FROM journal_checkpoints")
    for seq in (2, 5, 11):
        _sign_at(journal, seq)

    rewrite_chain_from(journal, 3, '{"i":3,"tool":"send_email"}')

    report = journal.verify()
    assert [(p.kind, p.seq) for p in report.problems] == [("rewritten", 5), ("rewritten", 11)]
    assert report.signed_through == 2


def _sign_at(journal: Journal, seq: int) -> None:
    """Store a genuine checkpoint of record ``seq`` (as if the head had been ``seq``)."""
    assert journal.signer is not None
    (record,) = [r for r in journal.records() if r.seq == seq]
    signature = journal.signer.sign(seq, record.hash).hex()
    _sql(
        journal,
        "INSERT INTO journal_checkpoints (seq, hash, key_id, signature, ts) "
        "VALUES (:s, :h, :k, :sig, 'ts')",
        s=seq,
        h=record.hash,
        k=journal.signer.key_id,
        sig=signature,
    )


def test_rewrite_after_the_last_checkpoint_is_left_to_the_chain(journal: Journal) -> None:
    _sign_at(journal, 5)

    rewrite_chain_from(journal, 7, '{"i":7,"tool":"send_email"}')

    report = journal.verify()
    assert report.ok  # records after the last checkpoint are protected by the chain alone
    assert report.signed_through == 5


def test_tampered_signature_is_forged(journal: Journal) -> None:
    made = journal.checkpoint()
    assert made is not None
    flipped = ("0" if made.signature[0] != "0" else "1") + made.signature[1:]
    _sql(journal, "UPDATE journal_checkpoints SET signature = :s", s=flipped)

    problems = journal.verify().problems
    assert [(p.kind, p.seq) for p in problems] == [("forged", 10)]
    assert "did not make" in problems[0].message


def test_signature_that_is_not_hex_is_forged(journal: Journal) -> None:
    journal.checkpoint()
    _sql(journal, "UPDATE journal_checkpoints SET signature = 'zz'")

    assert _kinds(journal) == [("forged", 10)]


def test_checkpoint_moved_to_the_rewritten_hash_is_forged(journal: Journal) -> None:
    journal.checkpoint()
    rewrite_chain_from(journal, 3, '{"i":3,"tool":"send_email"}')
    new_head = list(journal.records())[-1].hash
    _sql(journal, "UPDATE journal_checkpoints SET hash = :h", h=new_head)

    assert _kinds(journal) == [("forged", 10)]


def test_verifying_with_another_public_key_is_forged(journal: Journal, tmp_path: Path) -> None:
    journal.checkpoint()
    other = load_or_create_signer(tmp_path / "other.pem")

    problems = journal.verify(other.verifier).problems

    assert [(p.kind, p.seq) for p in problems] == [("forged", 10)]
    assert "none of the public keys given" in problems[0].message
    assert "give the old public key too" in problems[0].message


def test_rotated_keys_verify_together(journal_url: str, tmp_path: Path) -> None:
    old = load_or_create_signer(tmp_path / "old.pem")
    new = load_or_create_signer(tmp_path / "new.pem")
    Journal(journal_url, old).append([("r1", "a", {})])
    Journal(journal_url, old).checkpoint()
    rotated = Journal(journal_url, new)
    rotated.append([("r1", "b", {})])
    rotated.checkpoint()

    assert [c.key_id for c in rotated.checkpoints()] == [old.key_id, new.key_id]
    assert _kinds(rotated) == [("forged", 1)]  # the signer's own key alone
    both = rotated.verify([load_verifier(tmp_path / "old.pem.pub"), new.verifier])
    assert both.ok
    assert both.checkpoints_checked == 2


def test_deleted_checkpointed_records_are_missing(journal: Journal) -> None:
    journal.checkpoint()
    records = list(journal.records())
    _sql(journal, "DELETE FROM journal_records WHERE seq > 8")
    # A careful attacker also moves the recorded head, so no "truncated" is reported.
    _sql(journal, "UPDATE journal_meta SET value = :v WHERE key = 'head'", v=f"8:{records[7].hash}")

    problems = journal.verify().problems
    assert [(p.kind, p.seq) for p in problems] == [("missing", 10)]
    assert "record 10, signed by key" in problems[0].message


def test_deleted_record_in_the_middle_is_deleted_and_missing(journal: Journal) -> None:
    _sign_at(journal, 5)
    _sql(journal, "DELETE FROM journal_records WHERE seq = 5")

    assert _kinds(journal) == [("deleted", 5), ("missing", 5)]


def test_verify_without_any_key_skips_checkpoints_and_says_so(
    journal: Journal, journal_url: str
) -> None:
    journal.checkpoint()
    _sql(journal, "UPDATE journal_checkpoints SET signature = 'zz'")

    report = Journal(journal_url).verify()

    assert report.ok
    assert (report.checkpoints_checked, report.checkpoints_unchecked) == (0, 1)


def test_walk_stopped_early_leaves_later_checkpoints_unchecked(
    journal: Journal, signer: JournalSigner
) -> None:
    journal.checkpoint()
    _sql(journal, "UPDATE journal_records SET payload = '{}' WHERE seq IN (2, 3)")

    report = verify_chain(
        journal.records(),
        checkpoints=journal.checkpoints(),
        public_keys=[signer.verifier],
        max_problems=2,
    )

    assert [(p.kind, p.seq) for p in report.problems] == [("edited", 2), ("edited", 3)]
    assert (report.checkpoints_checked, report.checkpoints_unchecked) == (0, 1)


# The runner


def test_runner_checkpoints_the_journal_after_each_run(
    journal_url: str, signer: JournalSigner
) -> None:
    journal = Journal(journal_url, signer)
    runner = Runner(journal)
    try:
        for answer in ("one", "two"):
            agent = make_agent([], ScriptedReasoner([respond(answer)]))
            runner.run(agent, "goal")
            assert journal.checkpoints()[-1].seq == list(journal.records())[-1].seq
    finally:
        runner.close()

    assert len(journal.checkpoints()) == 2
    report = journal.verify()
    assert report.ok
    assert report.signed_through == report.head_seq


def test_append_can_sign_its_new_head_in_the_same_transaction(
    journal_url: str, tmp_path: Path
) -> None:
    signer = load_or_create_signer(tmp_path / "keys" / "journal.pem")
    journal = Journal(journal_url, signer=signer)

    journal.append([("r1", "a", {})])
    stored = journal.append([("r1", "b", {}), ("r1", "c", {})], checkpoint=True)

    (made,) = journal.checkpoints()
    assert (made.seq, made.hash) == (stored[-1].seq, stored[-1].hash)
    report = journal.verify()
    assert report.ok and report.checkpoints_checked == 1


def test_an_append_whose_signing_fails_stores_nothing(
    journal_url: str, signer: JournalSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(journal_url, signer)
    journal.append([("r1", "a", {})])

    def unreachable(seq: int, hash: str) -> bytes:
        raise RuntimeError("signing service unreachable")

    monkeypatch.setattr(signer, "sign", unreachable)
    with pytest.raises(RuntimeError, match="unreachable"):
        journal.append([("r1", "b", {})], checkpoint=True)
    journal.latest_seq(["b"])  # a read on the same connection commits nothing of it
    monkeypatch.undo()
    journal.append([("r1", "c", {})], checkpoint=True)

    assert [r.kind for r in Journal(journal_url).records()] == ["a", "c"]
    assert Journal(journal_url, signer).verify().ok


def test_dropping_the_checkpoints_table_is_detected(journal: Journal, journal_url: str) -> None:
    journal.checkpoint()
    _sql(journal, "DROP TABLE journal_checkpoints")

    report = journal.verify()

    assert not report.ok
    assert [p.kind for p in report.problems] == ["missing"]

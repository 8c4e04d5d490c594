"""Signed notes, checkpoints and cosignatures against the published C2SP examples and the Go
reference implementation's (golang.org/x/mod/sumdb/note) documented example, byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.audit import note
from onceonly.audit.checkpoint import Checkpoint, parse_add_checkpoint

# golang.org/x/mod/sumdb/note, package documentation (the key, the text and the signed note).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2"
    "pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# c2sp.org/signed-note, "Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6Tf"
    "Xppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# c2sp.org/tlog-cosignature: the cosigned example checkpoint and the time of its message.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
# transparency-dev/formats note tests: an Ed25519 (0x01) and a cosignature/v1 (0x04) vkey.
FORMATS_VKEYS = (
    "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6",
    "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
)


def test_signing_the_go_reference_example_gives_its_note_byte_for_byte() -> None:
    signer = note.signer_from_skey(GO_SKEY)
    assert signer.verifier.vkey == GO_VKEY
    assert note.sign_note(GO_TEXT, signer).encode() == GO_NOTE
    opened, verified = note.open_note(GO_NOTE, [note.Verifier.from_vkey(GO_VKEY)])
    assert opened.text == GO_TEXT and [s.name for s in verified] == ["PeterNeumann"]


def test_the_signed_note_spec_example_verifies_and_a_changed_text_does_not() -> None:
    verifier = note.Verifier.from_vkey(SPEC_VKEY)
    assert verifier.vkey == SPEC_VKEY
    note.open_note(SPEC_NOTE, [verifier])
    with pytest.raises(note.NoteError) as failed:
        note.open_note(SPEC_NOTE.replace("example message", "exemplary message"), [verifier])
    assert failed.value.code == "bad_signature"
    with pytest.raises(note.NoteError) as unknown:  # another key: ignored, so nothing verified
        note.open_note(SPEC_NOTE, [note.Verifier.from_vkey(GO_VKEY)])
    assert unknown.value.code == "unverified"


@pytest.mark.parametrize("vkey", FORMATS_VKEYS)
def test_key_ids_of_published_vkeys_are_derived_the_same_way(vkey: str) -> None:
    assert note.Verifier.from_vkey(vkey).vkey == vkey
    name, key_id, material = vkey.split("+", 2)
    wrong = f"{name}+{int(key_id, 16) ^ 1:08x}+{material}"
    with pytest.raises(note.NoteError):
        note.Verifier.from_vkey(wrong)


def test_the_cosignature_spec_example_parses_to_its_stated_time() -> None:
    parsed = note.parse_note(SPEC_CHECKPOINT)
    checkpoint = Checkpoint.from_text(parsed.text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.text() == parsed.text
    witness = parsed.signatures[1]
    assert witness.name == "witness.example.com/w1" and witness.timestamp == 1679315147


def test_a_cosignature_round_trips_and_covers_time_and_text() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = note.Signer(
        "witness.example/w1", note.SIG_COSIGNATURE_V1, Ed25519PrivateKey.generate()
    )
    text = note.parse_note(SPEC_CHECKPOINT).text
    signature = signer.sign(text, 1679315147)
    assert len(signature.body) == 72 and signature.timestamp == 1679315147
    verifier = signer.verifier
    assert verifier.verify(text, signature)
    later = note.Signature(
        signature.name, signature.key_id, (2).to_bytes(8, "big") + signature.body[8:]
    )
    assert not verifier.verify(text, later)
    assert not verifier.verify(text.replace("20852163", "20852164"), signature)
    # the same key as a plain note key has another key ID: its signature is not a cosignature
    plain = note.Verifier(signer.name, note.SIG_ED25519, verifier.public)
    assert plain.key_id != verifier.key_id and not plain.matches(signature)


def test_the_witness_spec_example_request_body_parses() -> None:
    body = (
        "old 20852014\n"
        "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
        "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
        "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
        "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
        "\n" + SPEC_CHECKPOINT
    ).encode()
    request = parse_add_checkpoint(body)
    assert request.old_size == 20852014 and len(request.proof) == 4
    assert request.checkpoint.size == 20852163 and len(request.note.signatures) == 2


@pytest.mark.parametrize(
    "text",
    [
        "origin\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # leading zero
        "origin\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n1\nCsUYapGG\n",  # not 32 bytes
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # empty origin
        "origin\n1\n",
        "origin\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(note.NoteError):
        Checkpoint.from_text(text)


@given(st.text(max_size=300))
def test_parsing_anything_either_works_or_says_malformed(data: str) -> None:
    try:
        parsed = note.parse_note(data)
    except note.NoteError as error:
        assert error.code == "malformed"
        return
    assert parsed.encode() == data or parsed.signatures


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs")), min_size=1, max_size=40
    ),
    st.integers(min_value=0, max_value=(1 << 63) - 1),
    st.binary(min_size=32, max_size=32),
)
def test_checkpoint_text_round_trips(origin: str, size: int, root: bytes) -> None:
    checkpoint = Checkpoint(origin, size, root)
    assert Checkpoint.from_text(checkpoint.text()) == checkpoint


@given(st.binary(max_size=400))
def test_any_add_checkpoint_body_parses_or_is_malformed(body: bytes) -> None:
    try:
        request = parse_add_checkpoint(body)
    except note.NoteError as error:
        assert error.code == "malformed"
        return
    assert request.old_size >= 0 and all(len(h) == 32 for h in request.proof)


@given(
    st.integers(min_value=0, max_value=(1 << 63) - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=63),
    st.integers(min_value=0, max_value=(1 << 63) - 1),
    st.binary(min_size=32, max_size=32),
)
def test_add_checkpoint_bodies_round_trip(
    old: int, proof: list[bytes], size: int, root: bytes
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from onceonly.audit.checkpoint import AddCheckpoint

    checkpoint = Checkpoint("example.com/log", size, root)
    signer = note.Signer("example.com/log", note.SIG_ED25519, Ed25519PrivateKey.generate())
    signed = note.sign_note(checkpoint.text(), signer)
    body = AddCheckpoint(old, tuple(proof), signed, checkpoint).encode()
    assert parse_add_checkpoint(body) == AddCheckpoint(old, tuple(proof), signed, checkpoint)

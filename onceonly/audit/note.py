"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 note signatures and Ed25519
``cosignature/v1`` witness cosignatures (c2sp.org/tlog-cosignature).

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
``— <key name> base64(key ID || signature)``. The key ID is the first four bytes of
SHA-256(key name || 0x0A || signature type || public key): 0x01 for a plain Ed25519 note
signature (the log's), 0x04 for a timestamped Ed25519 cosignature (a witness's), whose
signature bytes are ``u64 timestamp || Ed25519 signature`` over
``"cosignature/v1\\ntime <timestamp>\\n" || note text``.

No maintained Python package implements the format, so this module does, checked byte for
byte against the Go reference implementation's published example (``tests/audit/test_note.py``).
Verification follows the spec: signatures from unknown keys are ignored, a known key whose
signature fails rejects the note, and a note with no verified signature is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

EM_DASH = "\u2014"
SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 64
"""The spec asks verifiers to accept at least 16; more than this is refused as malformed."""
MAX_NOTE_BYTES = 1 << 20
COSIGNATURE_HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = (1 << 63) - 1

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A note, key or signature that cannot be relied on; ``code`` says why."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise NoteError("malformed", f"not standard base64: {value[:40]!r}") from error


def _valid_name(name: str) -> bool:
    return bool(name) and not any(c.isspace() or c == "+" for c in name)


def key_id(name: str, sig_type: int, public: bytes) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], as signed-note recommends and
    tlog-cosignature requires."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public).digest()[:4]


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Signature:
    """One signature line: the key name, the key ID and the signature bytes after it."""

    name: str
    key_id: bytes
    body: bytes

    def line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.body).decode("ascii")
        return f"{EM_DASH} {self.name} {encoded}\n"

    @property
    def timestamp(self) -> int | None:
        """The cosignature's POSIX time (a ``cosignature/v1`` signature only)."""
        return int.from_bytes(self.body[:8], "big") if len(self.body) == 72 else None


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: name, type and key (a C2SP *vkey*)."""

    name: str
    sig_type: int
    public: bytes

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise NoteError("bad_key", f"key name {self.name!r} is empty or has a space or +")
        if self.sig_type not in (SIG_ED25519, SIG_COSIGNATURE_V1) or len(self.public) != 32:
            raise NoteError("bad_key", "only Ed25519 (type 0x01 or 0x04) keys are supported")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.sig_type, self.public)

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([self.sig_type]) + self.public).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteError("bad_key", "a vkey is NAME+HEX8+BASE64")
        material = _b64decode(parts[2])
        if not material:
            raise NoteError("bad_key", "no key material")
        verifier = cls(parts[0], material[0], material[1:])
        if verifier.key_id.hex() != parts[1]:
            raise NoteError("bad_key", "the key ID does not match the name and key")
        return verifier

    def matches(self, signature: Signature) -> bool:
        return signature.name == self.name and signature.key_id == self.key_id

    def verify(self, text: str, signature: Signature) -> bool:
        """Whether ``signature`` (already matched by name and ID) is this key's over ``text``."""
        message = text.encode("utf-8")
        body = signature.body
        if self.sig_type == SIG_COSIGNATURE_V1:
            if len(body) != 72:
                return False
            timestamp = int.from_bytes(body[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            message = f"{COSIGNATURE_HEADER}time {timestamp}\n".encode() + message
            body = body[8:]
        elif len(body) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(body, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes as ``name``: a log (0x01) or a cosigner (0x04)."""

    name: str
    sig_type: int
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.sig_type, raw_public(self.private.public_key()))

    def sign(self, text: str, timestamp: int | None = None) -> Signature:
        """The signature of ``text``; a cosigner needs the POSIX ``timestamp`` it signs at."""
        message = text.encode("utf-8")
        prefix = b""
        if self.sig_type == SIG_COSIGNATURE_V1:
            if timestamp is None or not 0 < timestamp <= MAX_TIMESTAMP:
                raise ValueError("a cosignature needs a positive timestamp")
            message = f"{COSIGNATURE_HEADER}time {timestamp}\n".encode() + message
            prefix = timestamp.to_bytes(8, "big")
        return Signature(self.name, self.verifier.key_id, prefix + self.private.sign(message))


@dataclass(frozen=True)
class Note:
    text: str
    """The signed text, its final newline included."""
    signatures: tuple[Signature, ...]

    def encode(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, extra: Iterable[Signature]) -> Note:
        """This note with ``extra`` added (a signature already present is not repeated)."""
        known = list(self.signatures)
        for signature in extra:
            if signature not in known:
                known.append(signature)
        return Note(self.text, tuple(known))


def check_text(text: str) -> None:
    """What signed-note asks of a note text: non-empty, ending in a newline, no control
    characters but newlines."""
    if not text.endswith("\n") or _CONTROL.search(text):
        raise NoteError("malformed", "the text must end in a newline and hold no control chars")


def parse_signature_line(line: str) -> Signature:
    """One ``— name base64`` line, without its newline."""
    prefix = EM_DASH + " "
    if not line.startswith(prefix):
        raise NoteError("malformed", f"not a signature line: {line[:60]!r}")
    name, space, encoded = line[len(prefix) :].rpartition(" ")
    if not space or not _valid_name(name):
        raise NoteError("malformed", f"bad key name in {line[:60]!r}")
    raw = _b64decode(encoded)
    if len(raw) < 5:
        raise NoteError("malformed", "a signature is a 4-byte key ID and the signature")
    return Signature(name, raw[:4], raw[4:])


def parse_signature_lines(data: str) -> list[Signature]:
    """Signature lines as a witness answers them, each ending in a newline."""
    if not data.endswith("\n"):
        raise NoteError("malformed", "signature lines end in a newline")
    lines = data[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("malformed", "too many signatures")
    return [parse_signature_line(line) for line in lines]


def parse_note(data: bytes | str) -> Note:
    """Split a note into its text and signature lines (nothing is verified here)."""
    if isinstance(data, bytes):
        if len(data) > MAX_NOTE_BYTES:
            raise NoteError("malformed", "the note is too large")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NoteError("malformed", "the note is not UTF-8") from error
    if _CONTROL.search(data):
        raise NoteError("malformed", "control characters other than newline")
    split = data.rfind("\n\n")
    if split < 0 or not data.endswith("\n"):
        raise NoteError("malformed", "no blank line before the signatures")
    text = data[: split + 1]
    signatures = parse_signature_lines(data[split + 2 :])
    return Note(text, tuple(signatures))


def open_note(
    data: bytes | str | Note, verifiers: Sequence[Verifier]
) -> tuple[Note, list[Signature]]:
    """The note and the signatures on it that ``verifiers`` vouch for.

    Signatures of unknown keys are ignored; a known key's signature that fails raises
    ``NoteError("bad_signature")``; no verified signature raises ``NoteError("unverified")``.
    """
    note = data if isinstance(data, Note) else parse_note(data)
    verified: list[Signature] = []
    for signature in note.signatures:
        for verifier in verifiers:
            if verifier.matches(signature):
                if not verifier.verify(note.text, signature):
                    raise NoteError("bad_signature", f"{signature.name} did not sign this text")
                verified.append(signature)
    if not verified:
        raise NoteError("unverified", "no signature by a trusted key")
    return note, verified


def sign_note(text: str, signer: Signer, timestamp: int | None = None) -> Note:
    check_text(text)
    return Note(text, (signer.sign(text, timestamp),))


def signer_from_skey(skey: str) -> Signer:
    """A signer from the Go reference's private key text ``PRIVATE+KEY+name+id+base64``
    (type byte, then the 32-byte Ed25519 seed): how its published examples give keys."""
    parts = skey.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise NoteError("bad_key", "a private key is PRIVATE+KEY+NAME+HEX8+BASE64")
    material = _b64decode(parts[4])
    if len(material) != 33:
        raise NoteError("bad_key", "an Ed25519 private key is a type byte and 32 bytes")
    signer = Signer(parts[2], material[0], Ed25519PrivateKey.from_private_bytes(material[1:]))
    if signer.verifier.key_id.hex() != parts[3]:
        raise NoteError("bad_key", "the key ID does not match the name and key")
    return signer

"""The federation CA's certificates and CRL as independent verifiers see them (Debian's
``openssl`` and cryptography's RFC 5280 path validation), and the CRL's life: one issue per
change of the revocations or per renewal, with a CRL Number that only grows."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store
from hypothesis import given
from hypothesis import strategies as st

from onceonly.pki import ca

CRL_URL = "http://directory.example:8600/v1/crl"


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca.init_ca(tmp_path / "ca", crl_url=CRL_URL)
    for node in ("taipei", "yilan"):
        ca.issue_node(tmp_path / "ca", node, tmp_path)
    ca.issue_agency(tmp_path / "ca", "yilan-county.social_welfare", tmp_path)
    return tmp_path


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)


def _crl(pem: bytes) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(pem)


def _number(crl: x509.CertificateRevocationList) -> int:
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


def test_openssl_verifies_the_certificates_against_the_crl(pki: Path) -> None:
    root = pki / "ca"
    yilan = x509.load_pem_x509_certificate((pki / "yilan.pem").read_bytes())
    ca.revoke(root, format(yilan.serial_number, "x"), "key_compromise")
    (pki / "crl.pem").write_bytes(ca.current_crl(root))

    def verify(name: str) -> subprocess.CompletedProcess[str]:
        return _openssl(
            "verify", "-crl_check", "-CAfile", root / "ca.pem", "-CRLfile", pki / "crl.pem",
            pki / f"{name}.pem",
        )  # fmt: skip

    good = verify("taipei")
    assert good.returncode == 0 and good.stdout.strip().endswith(": OK"), good.stdout + good.stderr
    assert verify("yilan-county.social_welfare").returncode == 0
    revoked = verify("yilan")
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr

    crl_text = _openssl("crl", "-in", pki / "crl.pem", "-noout", "-text").stdout
    assert "X509v3 CRL Number" in crl_text
    assert "X509v3 Authority Key Identifier" in crl_text
    assert "Key Compromise" in crl_text
    cert_text = _openssl("x509", "-in", pki / "taipei.pem", "-noout", "-text").stdout
    assert "X509v3 Key Usage: critical" in cert_text and "Digital Signature" in cert_text
    assert "X509v3 Subject Key Identifier" in cert_text
    assert "X509v3 Authority Key Identifier" in cert_text
    assert "X509v3 CRL Distribution Points" in cert_text and f"URI:{CRL_URL}" in cert_text
    # the CRL's AKI names the CA by its own key identifier
    ca_cert = x509.load_pem_x509_certificate((root / "ca.pem").read_bytes())
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = _crl((pki / "crl.pem").read_bytes()).extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier
    )
    assert aki.value.key_identifier == ski


def test_node_certificates_pass_rfc_5280_path_validation(pki: Path) -> None:
    """cryptography's own verifier (strict RFC 5280 / CA/B profile), as server and client."""
    root = x509.load_pem_x509_certificate((pki / "ca" / "ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((pki / "taipei.pem").read_bytes())
    builder = PolicyBuilder().store(Store([root]))
    server = builder.build_server_verifier(x509.DNSName("localhost"))
    assert server.verify(leaf, [])[-1] == root
    client = builder.build_client_verifier().verify(leaf, [])
    assert client.chain[-1] == root
    assert x509.UniformResourceIdentifier("urn:onceonly:node:taipei") in client.subjects


def test_the_crl_is_issued_only_when_revocations_change_or_renewal_nears(pki: Path) -> None:
    root = pki / "ca"
    first = ca.current_crl(root)
    assert ca.current_crl(root) == first, "a request alone must not issue a new CRL"
    assert ca.build_crl(root) == first
    issued = _crl(first)
    assert _number(issued) == 1 and len(list(issued)) == 0

    yilan = x509.load_pem_x509_certificate((pki / "yilan.pem").read_bytes())
    ca.revoke(root, format(yilan.serial_number, "x"), "key_compromise")
    second = _crl(ca.current_crl(root))
    assert _number(second) == 2
    assert second.get_revoked_certificate_by_serial_number(yilan.serial_number) is not None
    assert second.last_update_utc > issued.last_update_utc
    assert ca.current_crl(root) == second.public_bytes(Encoding.PEM)

    # near its nextUpdate it is renewed, with the next number and a later thisUpdate
    assert second.next_update_utc is not None
    near = second.next_update_utc - ca.CRL_RENEW + timedelta(seconds=1)
    renewed = _crl(ca.current_crl(root, now=near))
    assert _number(renewed) == 3
    assert renewed.last_update_utc > second.last_update_utc
    assert renewed.next_update_utc is not None and renewed.next_update_utc > near

    # the number is kept apart from the CRL: losing the file never reuses a number
    (root / "crl.pem").unlink()
    assert _number(_crl(ca.current_crl(root, now=near))) == 4


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.lists(_LABEL, min_size=1, max_size=5), st.sampled_from(["gov.tw", "example", "tw"]))
def test_every_dns_host_name_is_taken(labels: list[str], top: str) -> None:
    name = ".".join([*labels, top])
    assert ca.is_host_name(name) and ca.is_host_name(name.upper())


@given(
    st.sampled_from(["https://", "", "x y.", "-a.", "a..", "a_b.", "處."]),
    _LABEL,
    st.sampled_from(["", ":8443", "/v1", "?q", " "]),
)
def test_a_host_with_a_scheme_port_path_or_bad_label_is_refused(
    before: str, label: str, after: str
) -> None:
    text = f"{before}{label}.example{after}"
    assert ca.is_host_name(text) == (before == "" and after == "")


def test_a_host_or_crl_url_no_client_could_use_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """``--host https://node.example`` made a certificate whose name no TLS client matches,
    and ``--crl-url directory:8600`` one whose CRL nobody can fetch; both only failed later,
    far from the typo."""
    for url in ("directory.example:8600/v1/crl", "ftp://directory.example/crl", "http://"):
        with pytest.raises(ca.PkiError, match="is not an http or https URL"):
            ca.init_ca(tmp_path / "never", crl_url=url)
    assert not (tmp_path / "never").exists()
    ca.init_ca(tmp_path / "ca", crl_url=CRL_URL)
    for host in ("https://node.example", "node.example:8443", "node example"):
        with pytest.raises(ca.PkiError, match="is not a host name or IP address") as refused:
            ca.issue_node(tmp_path / "ca", "taipei", tmp_path / "out", [host])
        assert "不是主機名稱或 IP 位址" in str(refused.value)
    assert not (tmp_path / "out").exists() and ca.list_issued(tmp_path / "ca") == []
    issued = ca.issue_node(tmp_path / "ca", "taipei", tmp_path, ["Node.Example.gov.tw", "::1"])
    cert = x509.load_pem_x509_certificate(Path(issued.cert_path).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "node.example.gov.tw" in names.get_values_for_type(x509.DNSName)

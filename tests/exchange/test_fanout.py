"""How other nodes' answers to a piece searched in every jurisdiction are judged: a node that
holds nothing adds nothing, any node that could not answer (or answered unsigned) stops the
piece with its own reason, and only signed answers are used. The live path, over real nodes,
is in ``tests/federation/test_regional_node.py``."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from onceonly.exchange.fanout import Elsewhere
from onceonly.exchange.schemas import EvidenceResult, IssuedTranscript, Reason

NO_HOME = "owns_no_residential_property"
STATUSES = ("issued", "not_found", "denied", "unavailable", "failed", "awaiting_preview")


def _result(
    node: str, status: str, answer: bool | None = True, signed: bool = True
) -> EvidenceResult:
    issued = status == "issued"
    return EvidenceResult(
        evidence_type=NO_HOME,
        dataset="building_registration",
        predicate=NO_HOME,
        status=status,  # type: ignore[arg-type]
        owners=[f"{node}.land_office"],
        reason=Reason.model_validate({"zh-TW": f"{node} 的理由", "en": f"{node}: {status}"}),
        answer=answer if issued else None,
        transcripts=[IssuedTranscript(owner=f"{node}.land_office", kid="k", jws="j", expires_at="")]
        if issued and signed
        else [],
        retry_after=45 if status == "unavailable" else None,
    )


@given(st.lists(st.sampled_from(STATUSES), min_size=1, max_size=4))
def test_only_issued_or_holding_nothing_lets_the_piece_stand(statuses: list[str]) -> None:
    nodes = [f"n{i}" for i in range(len(statuses))]
    elsewhere = Elsewhere({n: [f"{n}.land_office"] for n in nodes})
    elsewhere.results = {n: _result(n, s) for n, s in zip(nodes, statuses, strict=True)}
    refusal = elsewhere.refusal()
    blocking = [
        (n, s) for n, s in zip(nodes, statuses, strict=True) if s not in ("issued", "not_found")
    ]
    if not blocking:
        assert refusal is None
        assert [r.status for r in elsewhere.issued()] == ["issued"] * statuses.count("issued")
        return
    node, status = blocking[0]
    assert refusal is not None
    assert (refusal.status, refusal.reason["en"]) == (status, f"{node}: {status}")
    assert refusal.retry_after == (45 if status == "unavailable" else None)


def test_an_unsigned_or_empty_answer_from_a_node_is_refused() -> None:
    for result in (_result("n0", "issued", signed=False), _result("n0", "issued", answer=None)):
        elsewhere = Elsewhere({"n0": ["n0.land_office"]}, {"n0": result})
        refusal = elsewhere.refusal()
        assert refusal is not None and refusal.status == "failed"
        assert "no signed answer" in refusal.reason["en"] and "n0" in refusal.reason["zh-TW"]


def test_a_node_that_did_not_answer_is_named_by_the_offices_listed_for_it() -> None:
    elsewhere = Elsewhere({"b": ["b.land_office"], "a": ["a.x", "a.y"]})
    elsewhere.results["b"] = _result("b", "issued")
    assert elsewhere.offices() == ["a.x", "a.y", "b.land_office"]
    assert elsewhere.audit_details()["a"] == {"offices": ["a.x", "a.y"], "status": "no_answer"}
    assert [t.owner for t in elsewhere.transcripts()] == ["b.land_office"]

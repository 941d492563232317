"""Seq gaps: found exactly where the simulated WeCom skipped seqs, and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence

from archive.completeness import service
from archive.completeness.service import SeqGap
from tests.conftest import Edge


def gaps_of(skipped: Sequence[int]) -> list[SeqGap]:
    """Runs of consecutive skipped seqs, as the gaps they leave (computed independently)."""
    runs: list[list[int]] = []
    for seq in sorted(skipped):
        if runs and runs[-1][-1] == seq - 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    return [SeqGap(run[0] - 1, run[-1] + 1, len(run)) for run in runs]


def pull(edge: Edge) -> None:
    edge.register_keys()
    context = edge.context()
    try:
        assert context.puller(edge.simulator.corp_id).run().status == "completed"
    finally:
        context.close()


def test_gap_detection_finds_exactly_the_gaps_the_simulator_introduced(edge: Edge) -> None:
    first = edge.simulator.populate(700, messages_per_day=20_000, seq_gap_every=97)
    edge.simulator.populate(300, messages_per_day=20_000)  # a contiguous stretch
    last = edge.simulator.populate(200, messages_per_day=20_000, seq_gap_every=50)
    skipped = first.skipped_seqs + last.skipped_seqs
    assert len(gaps_of(skipped)) == 7 + 3 and len(skipped) > len(gaps_of(skipped)), "gaps of several seqs, too"
    pull(edge)

    corp_id = edge.simulator.corp_id
    with edge.database.sessions() as session:
        found = service.gaps(session, corp_id, limit=1000)
        summary = service.gap_summary(session, corp_id)
        pages: list[SeqGap] = []
        from_seq = 0
        while page := service.gaps(session, corp_id, limit=3, from_seq=from_seq):
            pages += page
            from_seq = page[-1].before_seq
    assert found == gaps_of(skipped)
    assert pages == found, "paging by from_seq yields every gap once"
    assert (summary.gaps, summary.missing) == (len(found), len(skipped))
    assert (summary.first_seq, summary.last_seq, summary.envelopes) == (1, last.last_seq, 1200)


def test_no_gaps_when_the_seqs_are_contiguous(edge: Edge) -> None:
    edge.simulator.populate(500, messages_per_day=20_000)
    pull(edge)
    with edge.database.sessions() as session:
        assert service.gaps(session, edge.simulator.corp_id, limit=100) == []
        summary = service.gap_summary(session, edge.simulator.corp_id)
    assert (summary.gaps, summary.missing, summary.envelopes) == (0, 0, 500)


def test_an_empty_archive_has_no_gaps(edge: Edge) -> None:
    with edge.database.sessions() as session:
        summary = service.gap_summary(session, edge.simulator.corp_id)
        assert service.gaps(session, edge.simulator.corp_id, limit=10) == []
    assert (summary.gaps, summary.missing, summary.first_seq, summary.envelopes) == (0, 0, None, 0)

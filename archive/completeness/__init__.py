"""Provable completeness: seq gaps, lag against WeCom's retention window, coverage of the
members with the archiving licence, per-day volumes, and alerts when the archive falls
behind. WeCom deletes archive data after about three days (spec §2.3): what this package
reports is what an operator has to act on before data is lost for good."""

"""Case files: sketch versions, inversions and match runs under a tamper-evident audit
chain, with verifiable export bundles. No Qt here (the PDF renderer is sketchlab.report).
"""

from sketchlab.cases.db import CaseStoreError
from sketchlab.cases.records import (
    CandidateRecord,
    CaseFile,
    CaseInfo,
    GalleryIdentity,
    Inversion,
    MatchRun,
    SketchVersion,
)
from sketchlab.cases.store import CaseError, CaseStore, VerifyResult

__all__ = ["CandidateRecord", "CaseError", "CaseFile", "CaseInfo", "CaseStore",
           "CaseStoreError", "GalleryIdentity", "Inversion", "MatchRun", "SketchVersion",
           "VerifyResult"]

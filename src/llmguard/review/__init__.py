"""Human review: route calls to a queue, label them, calibrate judges against reviewers.

- `Routing`: which calls enter the queue (explicit ids, a random rate per prompt or tag, negative
  feedback, judgments that failed or scored low).
- `ReviewRouter`: the call observer (and judgment sink) that routes calls as they happen.
- `ReviewStore`: the queue, next to the feedback and judgment tables of one database.
- `record_label`: a reviewer's label, stored as feedback with ``source=review``.
- `calibrate`: agreement of each judge with the human labels (Cohen's kappa, Spearman).
- `refresh_candidates` / `apply_candidates`: golden-set candidates from traffic, applied on request.
- `traffic_cases`: a deterministic sample of recent retained inputs, to run a suite over.
- `review_app`: the keyboard-driven review page (ASGI), authenticated by reviewer tokens
  (`reviewer_token`).
"""

from __future__ import annotations

from ._calibrate import Agreement, Calibration, JudgeCalibration, calibrate
from ._labels import record_label
from ._refresh import RefreshResult, apply_candidates, refresh_candidates
from ._router import ReviewRouter
from ._rules import Routing
from ._store import Label, ReviewItem, ReviewStore
from ._tokens import read_reviewer_token, reviewer_token
from ._traffic import parse_window, traffic_cases
from ._web import review_app

__all__ = [
    "Agreement",
    "Calibration",
    "JudgeCalibration",
    "Label",
    "RefreshResult",
    "ReviewItem",
    "ReviewRouter",
    "ReviewStore",
    "Routing",
    "apply_candidates",
    "calibrate",
    "parse_window",
    "read_reviewer_token",
    "record_label",
    "refresh_candidates",
    "review_app",
    "reviewer_token",
    "traffic_cases",
]

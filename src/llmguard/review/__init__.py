"""Human review: route calls to a queue, label them, calibrate judges against reviewers.

- `Routing`: which calls enter the queue (explicit ids, a random rate per prompt or tag, negative
  feedback, judgments that failed or scored low).
- `ReviewRouter`: the call observer (and judgment sink) that routes calls as they happen.
- `ReviewStore`: the queue, next to the feedback and judgment tables of one database.
- `record_label`: a reviewer's label, stored as feedback with ``source=review``.
- `calibrate`: agreement of each judge with the human labels (Cohen's kappa, Spearman).
- `review_app`: the keyboard-driven review page (ASGI), authenticated by reviewer tokens.
"""

from __future__ import annotations

from ._labels import record_label
from ._router import ReviewRouter
from ._rules import Routing
from ._store import Label, ReviewItem, ReviewStore

__all__ = ["Label", "ReviewItem", "ReviewRouter", "ReviewStore", "Routing", "record_label"]

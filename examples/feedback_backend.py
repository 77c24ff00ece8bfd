"""Backend feedback: link a user's rating to the exact LLM call, then summarise it (offline, exits 0)."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import llmguard
from llmguard import Guard, PromptRef, call_ref, feedback, use_prompt
from llmguard.testing import FakeOpenAI

MODEL = "gpt-4o-mini-2024-07-18"


def main() -> None:
    """Answer two questions, record feedback from two users, and print what was stored."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "llmguard.db"
        guard = Guard(db_path=db, pin_policy="off")
        with FakeOpenAI(reply="Paris.").client(llmguard.OpenAI, guard=guard) as client:
            with use_prompt(PromptRef(name="capitals", version="1.0.0")):
                answer = client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "Capital of France?"}]
                )
            ref = call_ref(answer)  # store it with your message; it is immutable and hashable
            print(f"call {ref.call_id} response {ref.response_id} served by {ref.model}")
            feedback(answer, "thumbs", True, user_id="alice")
            feedback(ref, "rating", 4, user_id="bob", comment="short but right")
            feedback(ref, "rating", 5, user_id="bob")  # re-sent: updates bob's rating, no duplicate
        print(guard.stats().feedback)  # FeedbackStats(recorded=3, failed=0)
        guard.close()  # closes the feedback database too
        conn = sqlite3.connect(db)
        try:
            stored = conn.execute(
                "SELECT name, user_id, score, prompt_name, prompt_version, model, revisions "
                "FROM llmguard_feedback ORDER BY id"
            ).fetchall()
        finally:
            conn.close()
    for row in stored:
        print(row)
    assert len(stored) == 2
    assert stored[1][2] == 5.0
    assert stored[1][6] == 2


if __name__ == "__main__":
    main()

"""Real processes share one rollout: two supervisors race to advance it, two replicas serve from it.

Each step is advanced exactly once (compare-and-set across processes), and no replica ever serves
a split the rollout state has already retired (the label moves before the state commits).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from llmguard.prompts import FileStore, PromptRegistry
from llmguard.rollouts import Rollouts, plan_from_mapping

WEIGHTS = [5, 10, 20, 30, 40, 50, 60, 70, 80, 90]

SUPERVISOR = textwrap.dedent(
    """
    import sys, time
    from llmguard.exceptions import LabelConflictError, RolloutConflictError, RolloutError
    from llmguard.prompts import FileStore, PromptRegistry
    from llmguard.rollouts import Rollouts

    rollouts = Rollouts(PromptRegistry(FileStore(sys.argv[1]), ttl=0))
    wins = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = rollouts.status("bot")
        if state is None or not state.active:
            break
        try:
            rollouts.advance("bot", who=sys.argv[2])
            wins += 1
        except (RolloutConflictError, LabelConflictError):
            pass
        except RolloutError:  # the other supervisor completed it between our status read and advance
            now = rollouts.status("bot")
            if now is not None and now.active:
                raise
            break
        time.sleep(0.005)
    print(wins)
    """
)

REPLICA = textwrap.dedent(
    """
    import json, sys, time
    from llmguard.prompts import FileStore, PromptRegistry
    from llmguard.rollouts import FileRolloutStore

    root = sys.argv[1]
    registry = PromptRegistry(FileStore(root), ttl=0)
    store = FileRolloutStore(root)
    reads, violations, served = 0, [], set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = store.read("bot", "production")
        retired = {s.weight for s in state.plan.steps[: state.step]}
        target = registry.labels("bot")["production"]
        weight = 100 if target == "1.1.0" else (0 if target == "1.0.0" else target["1.1.0"])
        if weight in retired:
            violations.append([state.step, weight])
        served.add(registry.get("bot", label="production", key=f"user-{reads}").version)
        reads += 1
        if state.status == "completed":
            break
    print(json.dumps({"reads": reads, "violations": violations, "served": sorted(served)}))
    """
)


def _prompt(root: Path) -> None:
    folder = root / "bot"
    folder.mkdir(parents=True)
    for version in ("1.0.0", "1.1.0"):
        (folder / f"v{version}.yaml").write_text(
            f'version: "{version}"\nsystem_prompt: "v{version}"\n', encoding="utf-8"
        )
    (folder / "labels.yaml").write_text("production: 1.0.0\n", encoding="utf-8")


def test_two_supervisors_and_two_replicas_share_one_rollout(tmp_path: Path) -> None:
    _prompt(tmp_path)
    plan = plan_from_mapping({"candidate": "1.1.0", "steps": [{"weight": w} for w in WEIGHTS]}, "mp")
    rollouts = Rollouts(PromptRegistry(FileStore(tmp_path), ttl=0))
    rollouts.start("bot", plan)
    replicas = [
        subprocess.Popen([sys.executable, "-c", REPLICA, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    supervisors = [
        subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, str(tmp_path), f"sup{i}"], stdout=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=120) for p in [*supervisors, *replicas]]
    finally:
        for p in [*supervisors, *replicas]:  # none is left running (or holding pipes) when one fails
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert all(p.returncode == 0 for p in [*replicas, *supervisors]), outputs
    wins = [int(out) for out, _ in outputs[: len(supervisors)]]
    reports = [json.loads(out) for out, _ in outputs[len(supervisors) :]]

    assert sum(wins) == len(WEIGHTS)  # every step advanced once, whichever process won it
    events = rollouts.events("bot", "production")
    assert [e.to_step for e in events] == list(range(len(WEIGHTS) + 1))
    assert [e.revision for e in events] == sorted({e.revision for e in events})
    state = rollouts.status("bot")
    assert state is not None
    assert state.status == "completed"
    assert rollouts.registry.labels("bot")["production"] == "1.1.0"
    for report in reports:
        assert report["violations"] == []
        assert report["reads"] > 0
        assert set(report["served"]) <= {"1.0.0", "1.1.0"}

"""Settings precedence and bad configuration: typed errors naming source, key and valid choices."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import llmguard
from llmguard import CallRecorder, ConfigurationError, Guard
from llmguard._internal import LLMGuardAdvisory
from llmguard.testing import FakeOpenAI

MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "hi"}]


def test_defaults_without_any_configuration() -> None:
    guard = Guard()
    assert guard.pin_policy == "warn"
    assert guard.environment == "development"
    assert guard.db_path == Path.cwd() / ".llmguard" / "llmguard.db"
    assert not guard.db_path.exists()  # nothing is written until a storing feature runs


def test_production_enforces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGUARD_ENV", "production")
    assert Guard().pin_policy == "enforce"
    assert Guard(pin_policy="warn").pin_policy == "warn"  # an argument beats the environment


def test_precedence_argument_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.llmguard]\npin_policy = "off"\nservice_name = "from-file"\n', encoding="utf-8"
    )
    assert Guard().pin_policy == "off"
    assert Guard().service_name == "from-file"
    monkeypatch.setenv("LLMGUARD_PIN_POLICY", "enforce")
    assert Guard().pin_policy == "enforce"
    assert Guard(pin_policy="warn").pin_policy == "warn"
    assert Guard().settings.config_file == tmp_path / "pyproject.toml"
    assert Guard().db_path == tmp_path / ".llmguard" / "llmguard.db"


def test_config_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "llmguard.toml").write_text('environment = "staging"\n', encoding="utf-8")
    (tmp_path / ".git").mkdir()  # the project root
    sub = tmp_path / "app" / "pkg"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    guard = Guard()
    assert guard.environment == "staging"
    assert guard.db_path == tmp_path / ".llmguard" / "llmguard.db"


def test_unknown_pin_policy_in_env_names_source_and_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGUARD_PIN_POLICY", "strict")
    with pytest.raises(ConfigurationError) as info:
        Guard()
    message = str(info.value)
    assert "LLMGUARD_PIN_POLICY" in message
    assert "'strict'" in message
    assert "enforce, warn, off" in message


def test_unknown_guard_key() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown key 'pin_polcy'.*valid keys: .*pin_policy"):
        Guard(pin_polcy="enforce")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="configure"):
        llmguard.configure(tracer="x")


def test_unknown_file_key(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.llmguard]\npin_polcy = 'warn'\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"pyproject.toml \[tool.llmguard\].*'pin_polcy'"):
        Guard()


def test_malformed_lock_file(tmp_path: Path) -> None:
    (tmp_path / "llmguard.lock").write_text('[pins]\n"gpt-4o" = \n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"llmguard\.lock"):
        Guard()


def test_lock_entry_mapping_to_an_alias(tmp_path: Path) -> None:
    (tmp_path / "llmguard.lock").write_text('[pins]\n"gpt-4o" = "gpt-4o-mini"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as info:
        Guard()
    assert "llmguard.lock" in str(info.value)
    assert "gpt-4o" in str(info.value)


def test_lock_file_rewrites_under_enforce(tmp_path: Path) -> None:
    (tmp_path / "llmguard.lock").write_text('[pins]\n"gpt-4o" = "gpt-4o-2024-08-06"\n', encoding="utf-8")
    recorder = CallRecorder()
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce", observers=[recorder])) as client:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert fake.calls[0].body["model"] == "gpt-4o-2024-08-06"
    record = recorder.last
    assert record is not None
    assert (record.requested_model, record.locked_model, record.pin_action) == (
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "rewrite",
    )


def test_enforce_refuses_before_any_io() -> None:
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="enforce")) as client:
        with pytest.raises(llmguard.UnpinnedModelError) as info:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert fake.call_count == 0
    assert info.value.model == "gpt-4o"
    assert info.value.suggestion == "gpt-4o-2024-08-06"
    assert "pin a dated snapshot such as 'gpt-4o-2024-08-06'" in str(info.value)


def test_warn_logs_once_per_model_without_python_warnings(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeOpenAI()
    with (
        caplog.at_level(logging.WARNING, logger="llmguard"),
        fake.client(llmguard.OpenAI, guard=Guard(pin_policy="warn")) as client,
    ):
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert fake.call_count == 3
    assert len([r for r in caplog.records if "gpt-4o" in r.getMessage()]) == 1


def test_python_warning_is_opt_in() -> None:
    fake = FakeOpenAI()
    guard = Guard(pin_policy="warn", python_warnings=True)
    with fake.client(llmguard.OpenAI, guard=guard) as client, pytest.warns(LLMGuardAdvisory, match="gpt-4o"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]


def test_off_checks_nothing() -> None:
    fake = FakeOpenAI()
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="off")) as client:
        client.chat.completions.create(model="whatever", messages=MESSAGES)  # type: ignore[arg-type]
    assert fake.call_count == 1


def test_azure_deployment_needs_a_declared_pin() -> None:
    guard = Guard(pin_policy="enforce", pins={"prod-chat": "gpt-4o-2024-08-06"})
    fake = FakeOpenAI()
    client = llmguard.AzureOpenAI(
        api_key="k",
        api_version="2024-10-21",
        azure_endpoint="https://example-resource.openai.azure.com",
        http_client=fake.http_client(),
        guard=guard,
    )
    with client:
        client.chat.completions.create(model="prod-chat", messages=MESSAGES)  # type: ignore[arg-type]
        with pytest.raises(llmguard.UnpinnedModelError, match="other-deployment"):
            client.chat.completions.create(model="other-deployment", messages=MESSAGES)  # type: ignore[arg-type]
    assert fake.calls[0].body["model"] == "prod-chat"  # a declared deployment is never rewritten


def test_observer_failure_never_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        def on_start(self, call: object) -> None:
            raise RuntimeError("observer bug")

        def on_end(self, call: object, record: object) -> None:
            raise RuntimeError("observer bug")

    monkeypatch.setenv("LLMGUARD_SWALLOW_INTERNAL_ERRORS", "1")
    fake = FakeOpenAI(reply="fine")
    with fake.client(llmguard.OpenAI, guard=Guard(pin_policy="off", observers=[Broken()])) as client:
        reply = client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "fine"


def test_guard_repr_is_readable() -> None:
    guard = Guard(pin_policy="enforce", service_name="svc")
    assert "pin_policy='enforce'" in repr(guard)
    assert "<table>" in guard._repr_html_()


def test_exports_are_sorted_and_complete() -> None:
    assert llmguard.__all__ == sorted(llmguard.__all__)
    for name in llmguard.__all__:
        assert getattr(llmguard, name) is not None
    public = {
        n
        for n in dir(llmguard)
        if not n.startswith("_") and not isinstance(getattr(llmguard, n), type(llmguard))
    }
    assert public - set(llmguard.__all__) <= {"annotations", "TYPE_CHECKING", "Any"}


def test_import_is_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, llmguard; print(sorted(m for m in ('openai', 'anthropic', 'genai_prices') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _plant(folder: Path) -> Path:
    """A hostile config above the project: its judge would run code when the runtime is built."""
    planted = folder / "llmguard.toml"
    planted.write_text('environment = "planted"\npin_policy = "off"\n', encoding="utf-8")
    return planted


@pytest.mark.parametrize("marker", ["pyproject.toml", ".git"])
def test_discovery_stops_at_the_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str
) -> None:
    _plant(tmp_path)
    project = tmp_path / "project"
    (project / "src" / "pkg").mkdir(parents=True)
    if marker == ".git":
        (project / ".git").mkdir()
    else:
        (project / "pyproject.toml").write_text('[project]\nname = "app"\n', encoding="utf-8")
    monkeypatch.chdir(project / "src" / "pkg")
    guard = Guard()
    assert guard.settings.config_file is None
    assert guard.environment == "development"


def test_without_a_project_root_only_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plant(tmp_path)
    here = tmp_path / "scratch"
    here.mkdir()
    monkeypatch.chdir(here)
    assert Guard().settings.config_file is None
    own = here / "llmguard.toml"
    own.write_text('environment = "staging"\n', encoding="utf-8")
    assert Guard().settings.config_file == own


def test_a_config_in_the_project_root_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _plant(tmp_path)
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.llmguard]\nenvironment = "staging"\n', encoding="utf-8")
    monkeypatch.chdir(project / "app")
    guard = Guard()
    assert guard.settings.config_file == project / "pyproject.toml"
    assert guard.environment == "staging"

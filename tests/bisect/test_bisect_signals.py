"""Runs ended by a signal: told apart from a timeout; --in-place restores the checkout on SIGTERM/SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from bisect_helpers import commit_file

from pytest_agenttrace.bisect_run import ExitCodePredicate, PytestRunner, RegistryTarget

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_a_run_killed_by_sighup_is_not_reported_as_a_timeout(tmp_path: Path) -> None:
    (tmp_path / "test_hup.py").write_text(
        "import os, signal\n\ndef test_x():\n    os.kill(os.getpid(), signal.SIGHUP)\n"
    )
    runner = PytestRunner(
        ["test_hup.py", "-p", "no:cacheprovider"], ExitCodePredicate(), timeout=60, store=tmp_path / "s"
    )
    record = runner.run(RegistryTarget("p", ["v1"], tmp_path), "v1", 0, 1)
    assert record.outcome == "skip"
    assert record.exit_code == -signal.SIGHUP
    assert "timed out" not in record.detail
    assert "killed by signal 1 (SIGHUP)" in record.detail


def test_a_run_that_takes_too_long_is_reported_as_a_timeout(tmp_path: Path) -> None:
    (tmp_path / "test_slow.py").write_text("import time\n\ndef test_x():\n    time.sleep(30)\n")
    runner = PytestRunner(
        ["test_slow.py", "-p", "no:cacheprovider"], ExitCodePredicate(), timeout=1.5, store=tmp_path / "s"
    )
    record = runner.run(RegistryTarget("p", ["v1"], tmp_path), "v1", 0, 1)
    assert (record.outcome, record.detail) == ("skip", "timed out after 1.5s")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_in_place_restores_the_checkout_when_the_bisect_is_terminated(
    git: Callable[..., str], tmp_path: Path, sig: signal.Signals
) -> None:
    repo = tmp_path / "repo"
    ready = tmp_path / "ready"
    test = (
        "import time\nfrom pathlib import Path\n\n"
        f"def test_prompt():\n    Path({str(ready)!r}).write_text('x')\n    time.sleep(60)\n"
    )
    commit_file(git, repo, "test_prompt.py", test, "test")
    for n in (1, 2, 3):
        commit_file(git, repo, "prompt.txt", f"rev {n}\n", f"r{n}")
    (repo / "prompt.txt").write_text("local edit\n")
    code = "import sys; from pytest_agenttrace.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["bisect", "--git-file", "prompt.txt", "--in-place", "--no-cache", "--", "test_prompt.py", "-q"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        assert (repo / "prompt.txt").read_text() != "local edit\n"  # a version is in place
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + sig
    assert f"{sig.name}: restoring prompt.txt" in err
    assert (repo / "prompt.txt").read_text() == "local edit\n"


def test_a_second_signal_during_the_restore_does_not_interrupt_it(tmp_path: Path) -> None:
    # The first SIGTERM raises so the restore runs; one more arriving while the finally block writes
    # the original back must not raise in the middle of it (the file stayed swapped).
    from pytest_agenttrace.bisect_run import _signals_raise

    target = tmp_path / "prompt.txt"
    target.write_text("ORIGINAL")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exc:
        with _signals_raise("restoring prompt.txt"):
            try:
                target.write_text("SWAPPED")
                os.kill(os.getpid(), signal.SIGTERM)
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # the second one, during the restore
                target.write_text("ORIGINAL")
    assert exc.value.code == 128 + signal.SIGTERM
    assert target.read_text() == "ORIGINAL"
    assert signal.getsignal(signal.SIGTERM) is before

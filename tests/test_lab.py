"""The local learner's path: ``make lab`` serves the chapters in JupyterLab."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import ROOT

pytest.importorskip("jupyterlab", reason="JupyterLab is installed by make setup (extra 'lab')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lab_command() -> list[str]:
    """The command of the Makefile's ``lab`` recipe, with this interpreter."""
    recipe = re.search(r"^lab:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "the Makefile has no lab target"
    line = next(x for x in recipe[1].splitlines() if "-m jupyterlab" in x)
    words = line.strip().split()
    words = words[words.index("-m") :]
    return [sys.executable, *[w for w in words if w != "$(LAB_FLAGS)"]]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_make_lab_serves_the_chapters_as_notebooks(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    command = lab_command() + [
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:  # CI containers run as root; the server refuses that by default
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
            try:
                status, _ = get(f"{base}/api/status?token={token}")
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not answer within 120 s"
            time.sleep(0.5)

        status, body = get(f"{base}/api/contents/pooling.ipynb?token={token}")
        assert status == 200
        model = json.loads(body)
        assert model["type"] == "notebook" and model["name"] == "pooling.ipynb"
        cells = model["content"]["cells"]
        assert any("check(" in "".join(c["source"]) for c in cells)
        # jupytext lets the MyST source open as a notebook too.
        status, body = get(f"{base}/api/contents/pooling.md?type=notebook&token={token}")
        assert status == 200 and json.loads(body)["type"] == "notebook"
        # The lab page itself is served, and nothing is served without the token.
        assert get(f"{base}/lab?token={token}")[0] == 200
        assert get(f"{base}/api/contents/pooling.ipynb")[0] == 403
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()

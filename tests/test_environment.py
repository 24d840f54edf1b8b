"""The three places that name versions agree: pyproject extras, the lock, environment.yml."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci/constraints.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("keras", "book", "dev", "lab"):
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = {}
    for line in pip_section:
        if "==" in line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_lock_pins_the_versions_ci_promises():
    pins = lock_pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert pins["tensorflow"].startswith("2.21.") and pins["keras"].startswith("3.15.")
    assert pins["jupyter-book"].startswith("1.")


def test_every_declared_dependency_is_locked_within_its_range():
    pins = lock_pins()
    for req in project_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not locked"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"lock pins {name}=={pins[name]} outside pyproject's range {req.specifier}"
        )


def test_environment_yml_repeats_the_lock_exactly():
    pins, conda = lock_pins(), conda_pins()
    declared = {canonicalize_name(r.name) for r in project_requirements()}
    assert declared <= set(conda), f"missing from environment.yml: {declared - set(conda)}"
    for name, version in conda.items():
        assert pins.get(name) == version, (
            f"environment.yml pins {name}=={version}, lock {pins.get(name)}"
        )
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]

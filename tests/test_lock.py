"""requirements.lock pins what requirements.txt asks for, with hashes, and is what this environment runs."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def requirements() -> list[Requirement]:
    lines = (line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def lock() -> dict[str, tuple[Version, int]]:
    """Each pinned name: its version and how many sha256 hashes follow its line."""
    pins, name = {}, None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := PIN.match(line):
            name = canonicalize_name(match[1])
            pins[name] = (Version(match[2]), 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            pins[name] = (pins[name][0], pins[name][1] + 1)
    return pins


def test_every_requirement_is_pinned_with_hashes_inside_its_range():
    pins = lock()
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in requirements.txt but not pinned in requirements.lock (make lock)"
        version, hashes = pins[name]
        assert hashes, f"{req.name}=={version} has no --hash=sha256: in requirements.lock"
        assert req.specifier.contains(version, prereleases=True), \
            f"requirements.lock pins {req.name}=={version}, outside requirements.txt's {req.specifier} (make lock)"
    assert all(hashes for _, hashes in pins.values()), "every pin of requirements.lock needs a hash"


@pytest.mark.parametrize("name", ["torch", "numpy", "scipy"])
def test_this_environment_runs_the_locked_versions(name):
    try:
        installed = Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        pytest.skip(f"{name} is not installed")
    assert installed == lock()[name][0], f"{name} {installed} is installed, requirements.lock pins {lock()[name][0]}"

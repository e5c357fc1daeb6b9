"""Every rule's conda environment provides every module its script imports (through wbrad, lazily imported included)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

SRC = REPO / "src"
# import name -> conda (or pip) package name, where they differ
PACKAGE = {"SimpleITK": "simpleitk", "sklearn": "scikit-learn", "sksurv": "scikit-survival", "yaml": "pyyaml",
           "radiomics": "pyradiomics-bhklab", "matplotlib": "matplotlib-base", "pywt": "pywavelets",
           "skimage": "scikit-image", "PIL": "pillow", "jsonschema": "jsonschema"}
NOT_PACKAGES = {"_src", "wbrad"}  # the project itself, put on sys.path by scripts/_src.py


def rule_envs_and_scripts() -> list[tuple[str, Path, Path]]:
    """(rule, env file, script) for every rule of rules/*.smk that has both."""
    found = []
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            env = re.search(r'conda:\s*"([^"]+)"', block)
            script = re.search(r'script:\s*"([^"]+)"', block)
            if env and script:
                found.append((name, (smk.parent / env.group(1)).resolve(), (smk.parent / script.group(1)).resolve()))
    return found


def _module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _imported(path: Path, package: str) -> set[str]:
    """Absolute names of every module imported anywhere in the file (relative imports resolved)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if _module_file(f"{base}.{alias.name}"))
    return names


def third_party_imports(script: Path) -> set[str]:
    """Top-level third-party modules the script imports, following wbrad's own modules (and their packages)."""
    seen: set[str] = set()
    todo = [(script, "")]
    external = set()
    while todo:
        path, package = todo.pop()
        for name in _imported(path, package):
            top = name.split(".")[0]
            if top != "wbrad":
                if top not in sys.stdlib_module_names and top not in NOT_PACKAGES:
                    external.add(top)
                continue
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                module = ".".join(parts[:i])
                file = _module_file(module)
                if file and module not in seen:
                    seen.add(module)
                    todo.append((file, module if file.name == "__init__.py" else module.rsplit(".", 1)[0]))
    return external


def env_packages(env: Path) -> dict[str, str]:
    """Package name -> version spec of a conda env file (pip entries included)."""
    packages = {}
    for dep in yaml.safe_load(env.read_text())["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            name, _, version = re.split(r"(==|=)", item, maxsplit=1) if "=" in item else (item, "", "")
            packages[name.strip().lower()] = version.strip()
    return packages


RULES = rule_envs_and_scripts()


def test_every_rule_with_a_script_has_an_env():
    assert {rule for rule, _, _ in RULES} >= {"convert_ct", "segment", "bodycomp", "lesions", "delta", "cohort",
                                             "model"}


@pytest.mark.parametrize(("rule", "env", "script"), RULES, ids=[rule for rule, _, _ in RULES])
def test_the_rule_env_provides_every_module_its_script_imports(rule: str, env: Path, script: Path):
    packages = env_packages(env)
    missing = sorted(m for m in third_party_imports(script) if PACKAGE.get(m, m).lower() not in packages)
    assert not missing, f"rule {rule}: {env.name} lacks {missing} (imported by {script.name} through wbrad)"


@pytest.mark.parametrize("env", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_files_are_pinned(env: Path):
    unpinned = [name for name, version in env_packages(env).items() if not version]
    assert not unpinned, f"{env.name}: no version for {unpinned}"


def test_the_import_scan_follows_wbrad_into_its_libraries():
    """The convert_ct script imports SimpleITK only through wbrad.convert: the scan must find it there."""
    assert {"SimpleITK", "numpy"} <= third_party_imports(REPO / "scripts/convert_ct.py")

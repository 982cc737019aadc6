"""The documentation: the site builds strictly, and the README is a working front door."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The pages other modules' docstrings link to (agreed paths; moving one breaks those links).
AGREED_PAGES = [
    "index.md",
    "architecture.md",
    *(f"models/{name}.md" for name in ("bdnet", "reactnet", "bcdnet", "esbnn", "pokebnn")),
    *(
        f"guides/{name}.md"
        for name in ("conversion", "parity", "int8", "data", "training", "benchmarks", "raspberry_pi")
    ),
    *(f"results/{name}.md" for name in ("benchmarks", "fashion_mnist", "int8")),
    *(
        f"api/{name}.md"
        for name in (
            "quantizers", "layers", "zoo", "converters", "metrics", "training", "data", "bench",
            "fake_quant", "precision",
        )
    ),
]


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_mkdocs_builds_strictly(tmp_path):
    """`mkdocs build --strict`: a broken link, nav entry or API reference fails the suite."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
         "-d", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for page in AGREED_PAGES:
        html = tmp_path / "site" / page.replace(".md", "").replace("index", "") / "index.html"
        assert html.is_file(), page
    # The API reference is generated from the docstrings: every package page holds its members.
    layers = (tmp_path / "site" / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert 'id="lq_ext.layers.BinaryDense"' in layers
    zoo = (tmp_path / "site" / "api" / "zoo" / "index.html").read_text(encoding="utf-8")
    assert 'id="lq_ext.zoo.BDNetMobileNet"' in zoo


def test_docs_build_needs_no_network():
    """Material's social cards / privacy plugin download assets and fonts: all off."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    plugins = re.search(r"^plugins:\n((?:[ \t]+.*\n|\n)*)", config, re.M).group(1)
    names = re.findall(r"^  - (\w+)", plugins, re.M)
    assert names == ["search", "mkdocstrings"], names
    assert re.search(r"^  font: false$", config, re.M)


def test_agreed_pages_exist_and_are_in_the_nav():
    """Module docstrings link to these paths; a page outside the nav fails the strict build."""
    docs = ROOT / "docs"
    pages = {str(p.relative_to(docs)) for p in docs.rglob("*.md")}
    assert set(AGREED_PAGES) <= pages, sorted(set(AGREED_PAGES) - pages)
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in AGREED_PAGES:
        assert f": {page}\n" in config, page
    assert re.search(r"^  omitted_files: warn$", config, re.M)


def test_readme_is_a_front_door():
    text = _readme()
    assert len(text.splitlines()) <= 150
    assert "make demo" in text and "make test" in text  # .ci/run calls `make test`
    for paper in ("BD-Net", "ES-BNN", "BCDNet", "PokeBNN", "ReActNet-A"):
        assert paper in text, paper
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link


def _quickstart() -> str:
    blocks = re.findall(r"```python\n(.*?)```", _readme(), re.S)
    assert blocks, "README has no Python quickstart"
    return blocks[0]


def test_readme_quickstart_names_resolve_after_a_plain_import():
    """Every `lq_ext.a.b` the quickstart uses exists after `import lq_ext` alone.

    (The example's conversion and benchmark take a minute; what breaks a front-door example
    is a name that only exists after another import, as `lq_ext.data` once did.)
    """
    code = _quickstart()
    assert len(code.strip().splitlines()) <= 10
    tree = ast.parse(code)
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [alias.name for n in imports for alias in n.names] == ["lq_ext"]
    chains = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts, inner = [], node
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id == "lq_ext":
                chains.add(".".join(reversed(parts)))
    assert {"zoo", "converters", "bench"} <= {c.split(".")[0] for c in chains}
    check = (
        "import lq_ext, functools\n"
        f"for chain in {sorted(chains)!r}:\n"
        "    functools.reduce(getattr, chain.split('.'), lq_ext)\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]

"""Griffe extension for the API reference: lq_ext's docstrings as Markdown.

lq_ext's docstrings follow larq: ``# Arguments`` / ``# Returns`` / ``# References``
headings with indented ``name: text`` items, plus a few reStructuredText habits
(double-backquote literals, ``:class:`~pkg.Name``` roles, ``.. code-block::`` blocks).
This extension rewrites each docstring's text before mkdocstrings renders it, so the
pages read well and ``mkdocs build --strict`` stays free of warnings. It changes only
how docstrings are shown, never the package, and it makes no cross-references (a role
becomes inline code), so it does not depend on where an object lives.
"""

from __future__ import annotations

import re
import textwrap

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")
_LITERAL_SPANNING = re.compile(r"``((?:(?!\n\s*\n).)+?)``", re.S)  # across a line break
_SECTION = re.compile(r"^#{1,6}\s+\S")
_ITEM = re.compile(r"^(\*{0,2}[\w.]+\*{0,2}(?:\s*\([^)]*\))?):\s*(.*)$")
# "docs/models/bdnet.md" (how module docstrings point to these pages) -> a link; API pages
# live in docs/api/, so the target is one level up. A wrong path then fails the strict build.
_DOCS_PAGE = re.compile(r"`{0,2}\bdocs/([\w/.-]+\.md)(#[\w-]+)?`{0,2}")
_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|math)::\s*(\w*)\s*$")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _inline(line: str) -> str:
    line = _ROLE.sub(_role, line)
    line = _DOCS_PAGE.sub(lambda m: f"[docs/{m.group(1)}](../{m.group(1)}{m.group(2) or ''})", line)
    return _LITERAL.sub(lambda m: f"`{m.group(1)}`", line)


def _directives(lines: list[str]) -> list[str]:
    """``.. code-block:: text`` + indented block -> a fenced block."""
    out, i = [], 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, language = len(match.group(1)), match.group(2) or "text"
        i += 1
        block = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        body = textwrap.dedent("\n".join(line for line in block)).strip("\n")
        pad = " " * indent
        out += [f"{pad}```{language}", *[pad + b if b else "" for b in body.split("\n")], f"{pad}```", ""]
    return out


def _sections(lines: list[str]) -> list[str]:
    """Indented ``name: text`` items under a ``# Heading`` -> a Markdown list."""
    lines = _LITERAL_SPANNING.sub(lambda m: f"`{m.group(1)}`", "\n".join(lines)).split("\n")
    out, in_section, item = [], False, None
    for line in lines:
        if _SECTION.match(line):
            in_section = True
            out.append(line)
            out.append("")
            continue
        if in_section and line.startswith("    ") and not line.startswith("     "):
            match = _ITEM.match(line.strip())
            if match:
                out.append(f"- `{match.group(1).strip('*')}`: {_inline(match.group(2))}")
            else:
                out.append(f"- {_inline(line.strip())}")
            item = True
            continue
        if in_section and item and line.startswith("        "):
            out.append("  " + _inline(line.strip()))
            continue
        if in_section and line.strip() and not line.startswith(" "):
            in_section, item = False, None
        out.append(line if line.lstrip().startswith("```") else _inline(line))
    return out


_LIST_ITEM = re.compile(r"^(\s{0,3})([-*]|\d+\.) ")


def _list_spacing(lines: list[str]) -> list[str]:
    """A blank line before a list that follows a paragraph line (Python-Markdown needs it)."""
    out, fenced = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        prev = out[-1] if out else ""
        if (not fenced and _LIST_ITEM.match(line) and prev.strip() and not _LIST_ITEM.match(prev)
                and not prev.startswith((" ", "|", "#")) and not prev.lstrip().startswith("```")):
            out.append("")
        out.append(line)
    return out


def to_markdown(text: str) -> str:
    """Rewrite one docstring (see the module docstring)."""
    lines = _directives(text.split("\n"))
    fenced, result, chunk = False, [], []
    for line in lines:  # leave fenced code alone
        if line.lstrip().startswith("```"):
            if not fenced:
                result += _sections(chunk)
                chunk = []
                result.append(line)
            else:
                result.append(line)
            fenced = not fenced
            continue
        (result if fenced else chunk).append(line)
    result += _sections(chunk)
    return "\n".join(_list_spacing(result))


class LarqDocstrings(griffe.Extension):
    """Rewrite every loaded docstring with :func:`to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)

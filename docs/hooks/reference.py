"""MkDocs hook: the API reference, generated from the packages' public names.

Every module of ``gatepay_async`` and ``gatepay_sync`` whose dotted name has no part
starting with ``_`` and that declares ``__all__`` gets a section; each class and function
in its ``__all__`` gets a page rendered by mkdocstrings from its docstring, and the
module's other public names (constants) are on the section's first page. A name added to
``__all__`` gets its page with no edit here, and one removed loses it. An object exported
under several names (the models and errors are the same classes in both packages) is
documented once, where it is first met; its other names get a page pointing there.

Docstrings are written with Sphinx roles (``:class:`X```), which Markdown shows as text:
the rendered pages drop the role and keep the code.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from functools import cache
from types import ModuleType
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

PACKAGES = ("gatepay_async", "gatepay_sync")
SECTION = "API reference"
_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):(<code>)")


def _public_modules() -> list[ModuleType]:
    modules = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            module = importlib.import_module(info.name)
            if hasattr(module, "__all__"):
                modules.append(module)
    return modules


def _is_page(value: Any) -> bool:
    return inspect.isclass(value) or inspect.isfunction(value)


@cache
def _pages() -> tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...]:
    """(module, ((title, path, markdown), ...)) for each public module, in order."""
    documented: dict[int, tuple[str, str]] = {}  # id(object) -> (dotted name, page path)
    sections = []
    for module in _public_modules():
        folder = f"reference/{module.__name__}"
        names = [name for name in module.__all__ if not name.startswith("__")]
        pages, constants = [], []
        for name in names:
            value = getattr(module, name)
            if not _is_page(value):
                constants.append(name)
                continue
            dotted, path = f"{module.__name__}.{name}", f"{folder}/{name}.md"
            first = documented.setdefault(id(value), (dotted, path))
            if first[0] == dotted:
                body = f"# {name}\n\n::: {dotted}\n"
            else:
                link = "../" * path.count("/") + first[1]
                body = (
                    f"# {name}\n\n`{dotted}` is [`{first[0]}`]({link}), the same object:"
                    " its documentation is there.\n"
                )
            pages.append((name, path, body))
        overview = [f"# {module.__name__}\n"]
        if pages:
            overview.append("| name | |\n|---|---|")
            overview += [f"| [`{title}`]({title}.md) | |" for title, _, _ in pages]
            overview.append("")
        overview += [f"::: {module.__name__}.{name}\n" for name in constants]
        index = ("Overview", f"{folder}/index.md", "\n".join(overview) + "\n")
        intro = f"::: {module.__name__}\n    options:\n      members: false\n"
        index = (index[0], index[1], index[2].replace("\n", f"\n\n{intro}\n", 1))
        sections.append((module.__name__, (index, *pages)))
    return tuple(sections)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    for entry in config.nav or []:
        if isinstance(entry, dict) and SECTION in entry:
            entry[SECTION] = [
                {module: [{title: path} for title, path, _ in pages]} for module, pages in _pages()
            ]
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for _, pages in _pages():
        for _, path, markdown in pages:
            files.append(File.generated(config, path, content=markdown))
    return files


@cache
def _cli_module() -> str:
    """The module that defines the ``gatepay`` click group, wherever it lives in the
    cli package (docs/cli.md names it ``GATEPAY_CLI_MODULE``)."""
    import click

    package = importlib.import_module("gatepay_async.cli")
    for info in pkgutil.walk_packages(package.__path__, prefix="gatepay_async.cli."):
        if info.name.endswith(".__main__"):  # runs the command when imported
            continue
        module = importlib.import_module(info.name)
        command = getattr(module, "cli", None)
        callback = getattr(command, "callback", None)
        if isinstance(command, click.Group) and getattr(callback, "__module__", "") == info.name:
            return info.name
    raise LookupError("no click group named cli in gatepay_async.cli")


def _lazy_commands() -> str:
    """mkdocs-click directives for the commands the group loads only when asked for (such
    as ``sandbox``, which needs the sandbox extra): mkdocs-click lists only the others."""
    import click

    group = importlib.import_module(_cli_module()).cli
    context = click.Context(group, info_name="gatepay")
    directives = []
    for name in group.list_commands(context):
        if name in group.commands:
            continue
        command = group.get_command(context, name)
        module = importlib.import_module(command.callback.__module__)  # type: ignore[union-attr]
        attribute = next(key for key, value in vars(module).items() if value is command)
        directives.append(
            f"::: mkdocs-click\n    :module: {module.__name__}\n    :command: {attribute}\n"
            f"    :prog_name: gatepay {name}\n    :depth: 1\n    :style: table\n"
        )
    return "\n".join(directives)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    markdown = markdown.replace("GATEPAY_LAZY_COMMANDS", _lazy_commands())
    return markdown.replace("GATEPAY_CLI_MODULE", _cli_module())


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    # click 8.3 marks an option without a default with a sentinel, which mkdocs-click
    # prints by its repr: the table says "none" instead.
    html = html.replace("<td><code>Sentinel.UNSET</code></td>", "<td>none</td>")
    return _ROLE.sub(r"\1", html)

"""Lint results cached per file in ``.torchlint_cache/``, as ruff keeps ``.ruff_cache/``.

The folder sits at the project root (the folder of the pyproject.toml in use,
or the current folder) and holds a ``.gitignore`` of ``*`` and a
``CACHEDIR.TAG``, so neither git nor backup tools pick it up. Each linted file
has one entry, named after its path; the entry holds its findings and:

- a key over everything the findings are a function of: the file's text,
  its path, the resolved configuration and rule selection for it, and the
  code that computes them (torchlint's and every rule package's source files,
  by size and modification time, so an edited rule in a development checkout
  invalidates too; the Python and libcst versions);
- what the findings depend on beyond the file (see dependencies.py): the
  local modules read, every import lookup made and the run's files searched
  for importers, checked again on load.

Beside the entries, a catalog of the rules (code, name, default, class) for
that code: a run whose files all come from the cache chooses its rules from it
and never imports a rule, the semantic layer or libcst (most of its time).

Entries are JSON, never pickle: a cache folder that came with a repository
must not be able to run code. A file that is corrupt, truncated, foreign or
stale is a miss and gets rewritten; each write goes to a temporary file that
is renamed over the entry, so concurrent runs never see half an entry. A
folder that cannot be written turns caching off for the run, silently.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from torchlint import __version__
from torchlint.config import Config
from torchlint.dependencies import DependencyCheck, Lookup, ModuleRead, Record, Scan, blake2b, digest
from torchlint.findings import Applicability, Edit, FileResult, Finding, Fix, Severity, Span
from torchlint.registry import RuleInfo, RuleSet, rule_origin, rule_packages
from torchlint.semantic.imports import RunFiles
from torchlint.source import SourceFile

CACHE_DIR = ".torchlint_cache"
#: Bump when the entry layout changes; older entries then read as misses.
FORMAT = 2
_GITIGNORE = "# Created by torchlint: nothing in this folder belongs in version control.\n*\n"
# https://bford.info/cachedir/
_CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                 "# This file is a cache directory tag created by torchlint.\n"
                 "# For information about cache directory tags see https://bford.info/cachedir/\n")
_SOURCE_SUFFIXES = (".py", ".json", ".toml")
#: Folders of the torchlint package that findings do not depend on: output
#: formats, the editor's server, the probe (never cached). Edits there keep the cache.
_NOT_FINDINGS = frozenset({"__pycache__", "reporters", "lsp", "probe"})


class BadEntry(ValueError):
    """An entry that is not one of ours, or not whole."""


# -- the key ---------------------------------------------------------------------


def _code_sources(packages: tuple[str, ...]) -> tuple[list[str], list[str]] | None:
    """(folders, files) of the code that computes findings: torchlint's own
    package and every rule package (helpers beside a rule count as much as the
    rule); a rule module outside any package, alone. Found without importing
    the rules; None when a package cannot be found (loading it will say why)."""
    import torchlint

    folders = {os.path.dirname(os.path.abspath(torchlint.__file__))}
    files = set()
    for package in packages:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        if spec.submodule_search_locations:
            folders.update(os.path.abspath(folder) for folder in spec.submodule_search_locations)
        elif spec.origin and "." in package:  # a module of a package: its folder
            folders.add(os.path.dirname(os.path.abspath(spec.origin)))
        elif spec.origin:  # e.g. site-packages/myrules.py: not the whole of site-packages
            files.add(os.path.abspath(spec.origin))
    return sorted(folders), sorted(files)


def _stamp(path: str) -> str | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return f"{path} {stat.st_size} {stat.st_mtime_ns}"


def _libcst_version() -> str:
    """libcst's version, read from its package without importing it (the import
    alone costs more than a cached run)."""
    try:
        spec = importlib.util.find_spec("libcst")
        folder = spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else None
        if folder is None:
            return "?"
        with open(os.path.join(folder, "_version.py"), encoding="utf-8") as handle:
            return handle.read(500)
    except (ImportError, ValueError, OSError, IndexError):
        return "?"


def code_fingerprint(packages: tuple[str, ...]) -> str | None:
    """What identifies the code that computes findings. In a development
    checkout the version stays 0.1.0 while the rules change, so every source
    file's size and modification time counts (about a hundred ``stat`` calls).
    None when a rule package cannot be found."""
    sources = _code_sources(packages)
    if sources is None:
        return None
    parts = [f"torchlint {__version__}", sys.version, f"libcst {_libcst_version()}",
             "rules from " + ",".join(packages)]
    folders, files = sources
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(name for name in dirnames if name not in _NOT_FINDINGS)
            parts += [stamp for name in sorted(filenames) if name.endswith(_SOURCE_SUFFIXES)
                      and (stamp := _stamp(os.path.join(dirpath, name))) is not None]
    parts += [stamp for file in files if (stamp := _stamp(file)) is not None]
    return digest("\n".join(parts).encode("utf-8", "surrogatepass"))


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # paths may hold undecodable bytes


# -- entries ---------------------------------------------------------------------


def _span_to_json(span: Span) -> list[int]:
    return [span.start_line, span.start_col, span.end_line, span.end_col]


def _finding_to_json(finding: Finding) -> dict[str, Any]:
    fix = finding.fix
    return {
        "code": finding.code, "name": finding.name, "severity": finding.severity.value,
        "message": finding.message, "body": finding.body, "span": _span_to_json(finding.span),
        "cell": finding.cell,
        "fix": None if fix is None else {
            "applicability": fix.applicability.value, "title": fix.title,
            "edits": [[*_span_to_json(edit.span), edit.replacement] for edit in fix.edits],
        },
        "context": finding.context,
    }


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise BadEntry("expected a string")
    return value


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadEntry("expected an integer")
    return value


def _span(values: Any) -> Span:
    if not isinstance(values, list) or len(values) != 4:
        raise BadEntry("expected a span")
    return Span(*(_integer(value) for value in values))


def _finding_from_json(data: Any, path: str) -> Finding:
    if not isinstance(data, dict):
        raise BadEntry("expected a finding")
    fix = data["fix"]
    if fix is not None:
        edits = []
        for edit in fix["edits"]:
            if not isinstance(edit, list) or len(edit) != 5:
                raise BadEntry("expected an edit")
            edits.append(Edit(_span(edit[:4]), _string(edit[4])))
        fix = Fix(Applicability(fix["applicability"]), tuple(edits), _string(fix["title"]))
    cell = data["cell"]
    context = data["context"]
    if not isinstance(context, dict):
        raise BadEntry("expected a context")
    return Finding(
        code=_string(data["code"]), name=_string(data["name"]), severity=Severity(data["severity"]),
        message=_string(data["message"]), body=_string(data["body"]), path=path,
        span=_span(data["span"]), fix=fix,
        cell=None if cell is None else _integer(cell), context=context,
    )


def _record_from_json(modules: Any, lookups: Any, scans: Any) -> Record:
    return Record(
        modules=tuple(ModuleRead(_string(path), _string(value)) for path, value in modules),
        lookups=tuple(Lookup(_string(folder), _string(module), _integer(level),
                             None if found is None else _string(found))
                      for folder, module, level, found in lookups),
        scans=tuple(Scan(_string(name), tuple(_string(path) for path in files)) for name, files in scans),
    )


# -- the store -------------------------------------------------------------------


def rule_catalog(root: Path) -> RuleSet | None:
    """Every rule as the cache at `root` knows it for the code installed now
    (see :class:`~torchlint.registry.RuleInfo`), or None: no catalog for this
    code (a rule or torchlint changed, a plugin was added) or one unreadable."""
    code = code_fingerprint(rule_packages())
    if code is None:
        return None
    try:
        data = json.loads(_catalog_path(Path(os.path.abspath(root)) / CACHE_DIR, code).read_bytes())
        if not isinstance(data, dict) or data.get("torchlint-cache") != FORMAT:
            return None
        rules = tuple(RuleInfo(_string(code_), _string(name), bool(default), _string(origin))
                      for code_, name, default, origin in data["rules"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return RuleSet(rules) if rules else None


def _catalog_path(folder: Path, code: str) -> Path:
    return folder / __version__ / f"rules-{code}.json"


class Cache:
    """One run's view of the cache folder: keys, loads, atomic saves."""

    def __init__(self, root: Path, rules: RuleSet) -> None:
        """`rules`: every known rule, imported or from :func:`rule_catalog`."""
        self.folder = Path(os.path.abspath(root)) / CACHE_DIR
        self._entries = self.folder / __version__
        self.rules = rules
        self._code: str | None = None  # computed on the first key: a run may lint nothing
        self._configs: dict[int, str] = {}
        self._selections: dict[int, str] = {}
        self._check = DependencyCheck()
        self._writable = True
        self._prepared = False

    def use_run(self, run_files: RunFiles) -> None:
        """The files of this run: an entry holds only if the same files of the
        run would be searched for the importers of its modules."""
        self._check.run_files = run_files

    # -- keys

    def key(self, source: SourceFile, config: Config, rules: RuleSet) -> str:
        """Everything the findings are a function of, but for other files."""
        if self._code is None:
            # A rule package that cannot be found fails the run before any key.
            self._code = code_fingerprint(rule_packages()) or "?"
        settings = self._configs.get(id(config))  # the finder keeps each Config for the run
        if settings is None:
            settings = self._configs[id(config)] = json.dumps(config.to_json(), sort_keys=True,
                                                              default=str)
        selected = self._selections.get(id(rules))
        if selected is None:
            selected = self._selections[id(rules)] = " ".join(
                f"{rule.code}={rule_origin(rule)}" for rule in rules.rules)
        hasher = blake2b(digest_size=16)
        for part in (self._code, os.path.abspath(source.path or ""), source.display, settings,
                     selected, source.encoding, str(source.bom), repr(source.cells)):
            hasher.update(_encoded(part))
            hasher.update(b"\0")
        hasher.update(_encoded(source.text))
        return hasher.hexdigest()

    def _entry(self, source: SourceFile) -> Path:
        name = digest(_encoded(f"{os.path.abspath(source.path or '')}\0{source.display}"))
        return self._entries / name[:2] / f"{name[2:]}.json"

    # -- loading

    def load(self, source: SourceFile, key: str) -> FileResult | None:
        """The cached result, or None when there is none or it no longer holds."""
        try:
            data = json.loads(self._entry(source).read_bytes())
            if not isinstance(data, dict) or data.get("torchlint-cache") != FORMAT \
                    or data.get("key") != key:
                return None
            record = _record_from_json(data["modules"], data["lookups"], data["scans"])
            if not self._check.holds(record):
                return None
            findings = [_finding_from_json(item, source.display) for item in data["findings"]]
            dependencies = tuple(Path(_string(path)) for path in data["dependencies"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None  # missing, unreadable, truncated or foreign: lint again, write it anew
        return FileResult(display=source.display, source=source, findings=findings,
                          dependencies=dependencies)

    # -- saving

    def save(self, source: SourceFile, key: str, result: FileResult, record: Record) -> None:
        """Store `result`; never raises. A result with errors is not stored (the
        crash may not happen again, and should be seen again if it does)."""
        if not self._writable or result.errors or source.path is None:
            return
        entry = {
            "torchlint-cache": FORMAT,
            "key": key,
            "path": str(source.path),  # for people looking into the folder
            "findings": [_finding_to_json(finding) for finding in result.findings],
            "dependencies": [str(path) for path in result.dependencies],
            "modules": [list(read) for read in record.modules],
            "lookups": [list(lookup) for lookup in record.lookups],
            "scans": [[scan.name, list(scan.files)] for scan in record.scans],
        }
        try:
            data = json.dumps(entry, separators=(",", ":")).encode("ascii")
        except (TypeError, ValueError):  # a rule put something JSON cannot hold in a context
            return
        target = self._entry(source)
        try:
            self._prepare()
            target.parent.mkdir(exist_ok=True)
            _write_atomically(target, data)
        except OSError:
            self._writable = False  # read-only checkout, full disk: lint without a cache

    def _prepare(self) -> None:
        if self._prepared:
            return
        self._entries.mkdir(parents=True, exist_ok=True)
        for name, text in (("CACHEDIR.TAG", _CACHEDIR_TAG), (".gitignore", _GITIGNORE)):
            path = self.folder / name
            if not path.exists():
                _write_atomically(path, text.encode("ascii"))
        self._save_catalog()
        self._prepared = True

    def _save_catalog(self) -> None:
        """Write the rules' catalog for this code, once, beside the first entry."""
        if self._code is None or self._code == "?" \
                or any(isinstance(rule, RuleInfo) for rule in self.rules.rules):
            return  # nothing linted yet, or the rules came from the catalog already
        path = _catalog_path(self.folder, self._code)
        if path.exists():
            return
        rules = [[rule.code, rule.name, bool(rule.default_enabled), rule_origin(rule)]
                 for rule in self.rules.rules]
        _write_atomically(path, json.dumps({"torchlint-cache": FORMAT, "rules": rules}).encode("ascii"))


def _write_atomically(path: Path, data: bytes) -> None:
    """Write a temporary file beside `path`, then rename it over `path`: a
    reader sees the old entry or the new one, never a mix. No fsync: an entry
    lost or cut short by a power failure is only a miss."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise

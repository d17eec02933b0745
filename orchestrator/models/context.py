"""One compiled libyang context per set of (module, features), built once and reused.

libyang 2.8.0's Module.feature_enable() replaces a module's feature set on each call, so a
module with several features is implemented through lys_set_implemented() with the whole
list, on a context compiled explicitly afterwards (see LAB-FACTS).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator import settings
from orchestrator.errors import Problem, SetupError
from orchestrator.once import once_per_key

try:
    import _libyang
    import libyang
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise SetupError(
        f"the libyang Python bindings are missing ({exc})",
        fix="apt-get install libyang2-dev gcc && pip install libyang==2.8.0",
    ) from exc

# With the path flag libyang stores 'Data location "..."' and the input line in each error;
# the bindings' own logger would also print them, which we do not want.
libyang.configure_logging(True, "error")
logging.getLogger("libyang").addHandler(logging.NullHandler())
logging.getLogger("libyang").propagate = False

ModuleSpec = tuple[str, tuple[str, ...]]  # (module name, enabled features)


@dataclass(frozen=True)
class LoadedModule:
    name: str
    revision: str | None
    features: tuple[str, ...]
    file: str


def _keep_app_tags(ctx) -> None:
    """libyang's error-app-tag of each error (must-violation, or a must's own), which the
    message libyang-python raises drops: kept on the context, for the error that follows to read
    (devsim's rpc-error)."""
    from libyang.context import lib
    from libyang.util import c2str

    plain = ctx.error

    def error(msg, *args):
        tags, err = [], lib.ly_err_first(ctx.cdata) if ctx.cdata else None
        while err:
            if err.apptag:
                tags.append(c2str(err.apptag))
            err = err.next
        ctx.app_tags = tags
        return plain(msg, *args)

    ctx.app_tags = []
    ctx.error = error


class ModelSet:
    """A compiled context for one list of implemented modules with their features."""

    def __init__(self, modules: tuple[ModuleSpec, ...]):
        self.specs = modules
        dirs = ":".join(str(d) for d in settings.search_dirs())
        self.ctx = libyang.Context(dirs, explicit_compile=True)
        _keep_app_tags(self.ctx)
        loaded = []
        for name, features in modules:
            try:
                mod = self.ctx.load_module(name)
            except libyang.LibyangError as exc:
                raise SetupError(
                    f"YANG module {name} could not be loaded: {exc}",
                    fix=f"make sure {name}.yang is under FULLBARS_YANG_PATH ({dirs})",
                ) from exc
            keep = [_libyang.ffi.new("char[]", f.encode()) for f in features]
            arr = _libyang.ffi.new("char *[]", [*keep, _libyang.ffi.NULL])
            if _libyang.lib.lys_set_implemented(mod.cdata, arr) != 0:
                raise SetupError(
                    f"YANG module {name} has no feature among {', '.join(features)}",
                    fix="correct the device kind's feature list",
                )
            revs = [r.date() for r in mod.revisions()]
            path = mod.cdata.filepath
            loaded.append(LoadedModule(name, revs[0] if revs else None, tuple(features),
                                       _libyang.ffi.string(path).decode() if path else ""))
        try:
            self.ctx.compile_schema()
        except libyang.LibyangError as exc:
            raise SetupError(f"YANG modules {', '.join(n for n, _ in modules)} do not compile: {exc}") from exc
        self.modules = tuple(loaded)

    def parse(self, text: str, fmt: str = "xml", present_only: bool = False):
        """Parse and validate config; raise ValidationFailed with located problems.

        present_only validates only the modules the data uses (several service models share
        one context; one document is an instance of one of them)."""
        try:
            return self.ctx.parse_data_mem(text, fmt, strict=True, no_state=True, validate_present=present_only)
        except libyang.LibyangError as exc:
            raise ValidationFailed(str(exc)) from None

    def parse_fragment(self, text: str, fmt: str = "xml"):
        """Parse without validation: a piece of config that is valid only once merged."""
        try:
            return self.ctx.parse_data_mem(text, fmt, strict=True, parse_only=True)
        except libyang.LibyangError as exc:
            raise ValidationFailed(str(exc)) from None

    def validate(self, tree) -> None:
        try:
            tree.validate(no_state=True, validate_present=False)
        except libyang.LibyangError as exc:
            raise ValidationFailed(str(exc)) from None


_LOC = re.compile(r'(Data|Schema) location "([^"]+)"(?:, line number (\d+))?')


class ValidationFailed(Exception):
    """libyang's verdict, split into message, data path and input line."""

    def __init__(self, raw: str):
        super().__init__(raw)
        text = raw.split(": ", 1)[1] if raw.startswith("failed to ") and ": " in raw else raw
        m = _LOC.search(text)
        self.path = m.group(2) if m else None
        self.line = int(m.group(3)) if m and m.group(3) else None
        self.message = (text[: m.start()].rstrip(" :.") if m else text).strip() + "."

    def problem(self, **kw) -> Problem:
        return Problem(self.message, path=self.path, line=self.line, **kw)


@once_per_key
def model_set(modules: tuple[ModuleSpec, ...]) -> ModelSet:
    return ModelSet(modules)


def own_module_file(name: str) -> Path | None:
    hits = sorted(settings.OWN_YANG.rglob(f"{name}.yang")) + sorted(settings.OWN_YANG.rglob(f"{name}@*.yang"))
    return hits[0] if hits else None


def module_ns(module) -> str:
    """The XML namespace of a libyang Module (the 2.8.0 bindings do not expose it)."""
    return _libyang.ffi.string(module.cdata.ns).decode()

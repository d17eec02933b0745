"""templates/<device-kind>/<service>.xml.j2 → XML fragments. Templates are compiled once per run."""

from __future__ import annotations

import jinja2

from orchestrator import settings
from orchestrator.errors import FullbarsError
from orchestrator.once import once_per_key


@once_per_key
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(settings.TEMPLATES)),
        autoescape=True,  # customer names end up in XML text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


@once_per_key
def template(kind: str, name: str) -> jinja2.Template:
    path = f"{kind}/{name}.xml.j2"
    try:
        return environment().get_template(path)
    except jinja2.TemplateNotFound:
        raise FullbarsError(f"device kind {kind} has no template for {name}",
                            fix=f"write templates/{path}") from None
    except jinja2.TemplateSyntaxError as e:
        raise FullbarsError(f"template syntax error: {e.message}", file=f"templates/{path}",
                            line=e.lineno, fix="correct the template") from None


def render(kind: str, name: str, **variables) -> str:
    try:
        return template(kind, name).render(**variables)
    except jinja2.UndefinedError as e:
        raise FullbarsError(f"template templates/{kind}/{name}.xml.j2 uses an undefined value: {e.message}",
                            fix="correct the template or the variables its service passes") from None

"""Order: a product of a catalogue with the customer's parameters. It expands to the product's
intents (named <order>-<intent>), which are planned with it as one change and deleted with it;
the order itself configures nothing."""

from __future__ import annotations

import re
import string
from pathlib import Path

from orchestrator.documents.envelope import read_envelope
from orchestrator.documents.yamlsrc import read_documents
from orchestrator.errors import FullbarsError, Problem
from orchestrator.models.instance import Located, to_tree
from orchestrator.models.service_models import service_models
from orchestrator.services.base import Placement, Service

PLAIN = re.compile(r"[A-Za-z0-9._/:+-]+")  # a value that cannot change the YAML it is put into


def load_catalogue(path: str) -> tuple[dict, dict[str, int]]:
    """The catalogue's spec, validated against fullbars-catalogue.yang, and its lines by path."""
    nodes = read_documents(path, what="catalogue")
    if len(nodes) != 1:
        raise FullbarsError("a catalogue is one YAML document", file=path, fix="keep one document in the file")
    doc = read_envelope(nodes[0], path, ["Catalogue"])
    loc = Located(path, "spec")
    tree, problems = to_tree(service_models(), "fullbars-catalogue", "catalogue", doc.spec_node, path, "spec", loc)
    if problems:
        raise FullbarsError(problems)
    spec = tree.print_dict(include_implicit_defaults=True)["catalogue"]
    tree.free()
    return spec, {loc.names[k]: v for k, v in loc.lines.items()}


def _value(v: str) -> str:
    """A parameter's value as a YAML scalar: as written when plain, else quoted (JSON is YAML),
    so a value can never add keys or documents to the spec it goes into."""
    import json

    return v if PLAIN.fullmatch(v) else json.dumps(v)


class Order(Service):
    kind = "Order"
    template = None
    module = "fullbars-order"
    top = "order"

    def identity(self, spec: dict) -> dict:
        return {"product": spec["product"]}

    def expand(self, intent, load) -> tuple[list, list[Problem]]:
        spec = intent.spec
        rel = Path(spec["catalogue"])
        if rel.is_absolute() or ".." in rel.parts:  # an order reads its catalogue, not any file of the machine
            return [], [Problem(f"catalogue {spec['catalogue']} is outside the order's folder",
                                **intent.where("spec.catalogue"),
                                fix="keep the catalogue in the order's folder (or below it) and name it relative")]
        path = str(Path(intent.file).parent / rel)
        try:
            catalogue, _ = load_catalogue(path)
        except FullbarsError as e:
            return [], [Problem(f"catalogue {spec['catalogue']}: {p.render()}", **intent.where("spec.catalogue"),
                                fix="correct the catalogue, or name another") for p in e.problems]
        products = {p["name"]: p for p in catalogue["product"]}
        product = products.get(spec["product"])
        if product is None:
            return [], [Problem(f"catalogue {spec['catalogue']} has no product {spec['product']!r}",
                                **intent.where("spec.product"), fix="products: " + ", ".join(sorted(products)))]
        params = {p["name"]: p.get("default") for p in product.get("parameter", [])}
        given = {p["name"]: p["value"] for p in spec.get("parameter", [])}
        problems = [Problem(f"product {product['name']} has no parameter {n!r}",
                            **intent.where(f"spec.parameter[{i}].name"),
                            fix="its parameters: " + (", ".join(params) or "none"))
                    for i, n in enumerate(given) if n not in params]
        missing = [n for n, d in params.items() if d is None and n not in given]
        if missing:
            problems.append(Problem(f"product {product['name']} needs {', '.join(missing)}",
                                    **intent.where("spec.parameter"),
                                    fix="give " + ", ".join(f"{{name: {n}, value: ...}}" for n in missing)))
        if problems:
            return [], problems
        values = {n: _value(given.get(n, d)) for n, d in params.items()} | {"order": intent.name}
        kids = []
        for item in product["intent"]:
            name = f"{intent.name}-{item['name']}"
            try:
                body = string.Template(item["spec"]).substitute(values)
            except (KeyError, ValueError) as e:
                problems.append(Problem(f"product {product['name']}, intent {item['name']}: its spec names "
                                        f"{e} , which is no parameter of the product",
                                        **intent.where("spec.product"), fix=f"correct the catalogue {path}"))
                continue
            text = (f"apiVersion: fullbars.io/v1\nkind: {item['kind']}\nmetadata:\n  name: {name}\nspec:\n"
                    + "".join(f"  {ln}\n" for ln in body.splitlines()))
            found, probs, _ = load(f"{intent.file} ({product['name']}: {name})", text)
            for p in probs:  # the generated text has no file of its own: point at the order
                at = _source(p, item, body, [q["name"] for q in spec.get("parameter", [])])
                fix = None if at != "metadata.name" else (
                    f"shorten the order's name to at most {NAME_MAX - len(item['name']) - 1} characters: "
                    f"its product's intents are named <order>-<intent>, and {name} is {len(name)}")
                problems.append(Problem(f"product {product['name']}, intent {name}: {p.message}"
                                        + (f" (at {p.path})" if p.path else ""), **intent.where(at),
                                        fix=fix or p.fix or f"correct the order's parameters or the catalogue {path}"))
            for k in found:  # its problems are found at the order's line, and name the intent
                k.file, k.line, k.lines, k.parent = intent.file, intent.line, {}, intent.name
                k.document = f"{intent.document}: {k.name}" if intent.document else f"{k.name} of order {intent.name}"
            kids += found
        return (kids, []) if not problems else ([], problems)

    def place(self, intent, ctx) -> Placement:
        kids = sorted(n for n, it in ctx.intents.items() if getattr(it, "parent", None) == intent.name)
        return Placement(devices={}, resources={"product": intent.spec["product"], "intents": kids})


_NAMED = re.compile(r"\$\{?(\w+)\}?")
NAME_MAX = 48  # an object-name's length (fullbars-types.yang)
HEAD_LINES = 5  # apiVersion, kind, metadata, name, spec: the lines before an expanded spec


def _source(p: Problem, item: dict, body: str, given: list[str]) -> str:
    """The data path in the order a problem of an expanded intent comes from. Its name is the
    order's; a value on a line of the spec that one parameter the order gives fills is that
    parameter's value; anything else is the order's parameters as a whole."""
    if p.path == "metadata.name":
        return "metadata.name"
    template = item["spec"].splitlines()
    if p.line and len(template) == len(body.splitlines()) and HEAD_LINES < p.line <= HEAD_LINES + len(template):
        named = [n for n in _NAMED.findall(template[p.line - HEAD_LINES - 1]) if n in given]
        if len(set(named)) == 1:
            return f"spec.parameter[{given.index(named[0])}].value"
    return "spec.parameter"

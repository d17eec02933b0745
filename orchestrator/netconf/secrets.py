"""Secret leaves (a WiFi passphrase): a device kind names them as data (`secrets:` in its kind
file). Everything fullbars writes (plans, artifacts, diffs, store rows, logs) holds the secret
reference there (env:VAR or file:PATH, confined to the operator's customer-secret sources:
customer_secrets.py). The value is put in only in the payload of an edit as it
is sent; what a device gives back is masked (the value becomes the reference that gave it)
before it is compared, diffed, journaled or printed."""

from __future__ import annotations

from lxml import etree

from orchestrator.errors import FullbarsError
from orchestrator.models.context import module_ns
from orchestrator.netconf import customer_secrets

# What a secret leaf shows when its value came from no reference fullbars knows of.
MASK = "(masked: not set by fullbars)"
REF_PREFIXES = ("env:", "file:")


def is_ref(text: str | None) -> bool:
    return bool(text) and text.startswith(REF_PREFIXES)


def secret_value(ref: str) -> str:
    """Checked against the customer-secret allow-list again as it is sent: a journal's or a
    store's reference is as untrusted as the intent it came from."""
    return customer_secrets.value(ref)


class SecretLeaves:
    """The secret leaves of one device kind, found in any config tree (<config>, <data>, edit)."""

    def __init__(self, kind):
        ctx = kind.models.ctx
        self.kind = kind.name
        self.paths = []
        for path in kind.secrets:
            steps, ns = [], None
            for step in path.strip("/").split("/"):
                mod, _, name = step.rpartition(":")
                if mod:
                    ns = module_ns(ctx.get_module(mod))
                steps.append(f"{{{ns}}}{name}")
            self.paths.append(steps)

    def elements(self, root) -> list:
        out = []
        for steps in self.paths:
            level = [c for c in root if c.tag == steps[0]]
            for tag in steps[1:]:
                level = [c for el in level for c in el if c.tag == tag]
            out += level
        return out

    def refs(self, *configs: str) -> list[str]:
        """The references that stand in the secret leaves of these config documents."""
        out = []
        for text in configs:
            if text:
                for el in self.elements(etree.fromstring(text.encode())):
                    if is_ref((el.text or "").strip()) and el.text.strip() not in out:
                        out.append(el.text.strip())
        return out


class Secrets:
    """One device's secrets for one session: fill an edit, mask a reply, scrub an error text."""

    def __init__(self, leaves: SecretLeaves, refs: list[str]):
        self.leaves, self.refs = leaves, refs
        self._values: dict[str, str] = {}

    @classmethod
    def for_kind(cls, kind_name: str | None, *configs: str) -> "Secrets | None":
        """None when the kind has no secret leaves (nothing to do)."""
        from orchestrator.devices.registry import KINDS

        if not kind_name:
            return None
        kind = KINDS.get(kind_name)
        if not kind.secrets:
            return None
        leaves = SecretLeaves(kind)
        return cls(leaves, leaves.refs(*configs))

    def value(self, ref: str) -> str:
        if ref not in self._values:
            self._values[ref] = secret_value(ref)
        return self._values[ref]

    def fill(self, config_xml: str) -> str:
        """The edit as it goes on the wire: each reference replaced by its value."""
        root = etree.fromstring(config_xml.encode())
        for el in self.leaves.elements(root):
            text = (el.text or "").strip()
            if not text:
                continue  # a delete carries no value
            if not is_ref(text):
                raise FullbarsError(f"{self.leaves.kind}: a secret leaf ({etree.QName(el).localname}) holds no "
                                    "reference fullbars can resolve, so its old value cannot be given back",
                                    fix="set the secret again with an intent that names its reference")
            el.text = self.value(text)
        return etree.tostring(root, encoding="unicode")

    def mask(self, root):
        """A device's reply (lxml tree, changed in place) with each secret value replaced by the
        reference it came from, or MASK."""
        by_value: dict[str, str] = {}
        for ref in self.refs:
            try:
                by_value.setdefault(self.value(ref), ref)
            except FullbarsError:
                continue  # an unresolvable reference matches no value; the leaf shows MASK
        for el in self.leaves.elements(root):
            if el.text:
                el.text = by_value.get(el.text, MASK)
        return root

    def scrub(self, text: str) -> str:
        """An error text (a device may quote the value it refused) with every value hidden."""
        for ref, value in self._values.items():
            text = text.replace(value, f"(the value of {ref})")
        return text

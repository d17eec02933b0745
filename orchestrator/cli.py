"""The `fullbars` command: validate, plan, delete, status, network generate."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from orchestrator.cli_usage import JsonUsageErrors
from orchestrator.errors import FullbarsError, Problem

app = typer.Typer(cls=JsonUsageErrors, add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Intent-based orchestration for 5G private networks and enterprise broadband.")
network_app = typer.Typer(no_args_is_help=True, help="Network descriptions.")
app.add_typer(network_app, name="network")
lab_app = typer.Typer(no_args_is_help=True, help="Labs: containerlab topologies realized with network namespaces.")
app.add_typer(lab_app, name="lab")
change_app = typer.Typer(no_args_is_help=True, help="Change requests (as the server has them): submit, evidence, "
                         "approve, roll out.")
app.add_typer(change_app, name="change")
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

DbOpt = typer.Option(None, "--db", help="Store URL (default: $FULLBARS_DB or sqlite:///.fullbars/store.db).")
# Options many commands share, with one help text each.
TargetOpt = typer.Option(..., "--target", help="lab, or the name of an environment whose devices the network "
                         "description addresses.")
LabOpt = typer.Option(None, "--lab", help="With --target lab: the lab's topology file.")
NetworkOpt = typer.Option(None, "--network", help="Network description YAML (default: the one the store remembers).")
ConfirmOpt = typer.Option(120, "--confirm-timeout", help="Seconds a device waits for the confirming commit "
                          "before it reverts by itself.")
JsonOpt = typer.Option(False, "--json", help="Print the report as JSON.")
OutOpt = typer.Option(None, "--out", help="Write per-device artifacts here.")
FullOpt = typer.Option(False, "--full", help="Print every diff and every line, however long.")
LabFileArg = typer.Argument(..., help="The lab's topology file (.clab.yml).")
LabOrNameArg = typer.Argument(..., help="The lab's topology file (.clab.yml), or the name of a lab "
                              "`fullbars lab list` shows (its file gone).")
PlanDirArg = typer.Argument(..., help="A plan's artifact folder (fullbars plan --out DIR).")
LockOpt = typer.Option(None, "--lock-timeout", help="Seconds to wait while another fullbars writes the store "
                       "(default: $FULLBARS_LOCK_TIMEOUT or 60).")


class Format(str, Enum):
    text = "text"
    xml = "xml"
    json = "json"


FormatOpt = typer.Option(Format.text, "--format", help="text (allocations, diffs, edits), xml (the edits) or json.")


class TextOrJson(str, Enum):
    text = "text"
    json = "json"


OutFmtOpt = typer.Option(TextOrJson.text, "--format", help="text, or json (one object on stdout, errors "
                         "included; its shape: README, JSON output).")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"fullbars {version('fullbars')}", markup=False)
        raise typer.Exit()


@app.callback()
def _main(_: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit.")) -> None:
    _new_stores.clear()  # one run's (tests run many in one process)


def _store(command: str, db, create: bool = True, lock_timeout: float | None = None):
    """command: the subcommand, named to whoever waits for the store's lock while it holds it."""
    from orchestrator import settings
    from orchestrator.resources.store import Store

    store = Store(settings.database_url(db), create, settings.lock_timeout(lock_timeout), f"fullbars {command}",
                  say=lambda msg: err.print(msg, markup=False))
    if store.made:
        _new_stores.append(store)
    return store


_new_stores: list = []  # stores this run made: a refused command leaves no empty store file behind


MAX_ERRORS = 50  # a bulk file with one mistake repeated should not bury the summary
MAX_NAMES = 10  # names shown per resource without --full (a bulk change may hold thousands)


def _fail(e: FullbarsError, as_json: str | None = None, code: int = 2) -> None:
    """as_json: the command's name, to report the error as --format json's error object."""
    while _new_stores:
        _new_stores.pop().discard_new()
    if as_json:
        from orchestrator import json_output

        json_output.error(as_json, e, code)
        raise typer.Exit(code)
    err.print(e.render(limit=MAX_ERRORS), markup=False)
    err.print("nothing was changed.", style="dim")
    raise typer.Exit(code)


@app.command()
def demo(out_dir: Optional[Path] = typer.Option(None, "--out", help="Where the plan, lab file and report go "
                                                "(default: build/NAME)."),
         name: str = typer.Option("fullbars-demo", "--name", help="The lab's name: users sharing a machine "
                                  "give different ones."),
         keep: bool = typer.Option(False, "--keep", help="Leave the lab up afterwards."),
         db: Optional[str] = typer.Option(None, "--db", help="Store URL (default: $FULLBARS_DB, else a store of "
                                          "its own in the --out folder).")):
    """The whole road on the embedded default: plan the example intents, bring up their lab,
    apply them as one transaction, verify the services, report, tear the lab down."""
    import os

    from orchestrator.demo import run

    try:
        report = run(out_dir or Path("build") / name, lambda line: out.print(line, markup=False), _progress(), keep,
                     name, db or os.environ.get("FULLBARS_DB"))
    except FullbarsError as e:
        _fail(e)
    if not report["ok"]:
        raise typer.Exit(1)


@app.command()
def validate(intents: List[Path] = typer.Argument(..., help="Intent YAML files."),
             network: Optional[Path] = typer.Option(None, "--network", help="Network description YAML "
                                                    "(default: the one the store remembers)."),
             fmt: TextOrJson = OutFmtOpt,
             db: Optional[str] = DbOpt, lock_timeout: Optional[float] = LockOpt):
    """Run every stage plan runs and report every problem plan would; the store keeps nothing."""
    from orchestrator.plan.pipeline import plan as run

    as_json = "validate" if fmt == TextOrJson.json else None
    try:
        result = run(_store("validate", db, create=False, lock_timeout=lock_timeout), str(network) if network else None, [str(p) for p in intents],
                     keep=False)
    except FullbarsError as e:
        _fail(e, as_json)
    if as_json:
        from orchestrator.json_output import emit

        return emit("validate", True, services=[{"name": s.name, "kind": s.kind, "action": s.action,
                                                 "warnings": s.warnings} for s in result.services])
    _warnings(result)
    for s in result.services:
        out.print(f"ok  {s.kind} {s.name} ({'new' if s.action == 'create' else s.action})", markup=False)


def _warnings(result) -> None:
    """What a plan goes ahead with but says (an arrears policy that covers no line)."""
    for s in result.services:
        for w in s.warnings:
            err.print(f"warning: {s.name}: {Problem(**w).render()}", style="yellow", markup=False)


def _print_text(result, out_dir: Optional[Path], full: bool) -> None:
    carried = result.carried if full or len(result.carried) <= MAX_NAMES else result.carried[:MAX_NAMES]
    asked = {id(s) for s in result.services if s.action != "delete"}  # (a removal planned earlier is carried)
    for s in result.services + carried:
        shown, note = s.action, ""  # what it did to the store, unless applying it does otherwise:
        if s.earlier:
            shown, note = s.device_change, (" (as planned earlier, not applied yet)" if id(s) in asked else
                                            " (planned earlier, not applied yet: this plan carries it)")
        elif s.action == "delete" and not s.device_change:
            note = " (never applied: it leaves the store now, nothing is on the devices)"
        elif s.action == "update" and s.device_change == "create":
            shown, note = "create", " (changed in the store; never applied, so applying it creates it)"
        out.print(f"[bold]{shown:9}[/bold] {s.kind or 'service'} {s.name}  →  {', '.join(s.devices) or '-'}{note}")
        for k, v in s.resources.items():
            if isinstance(v, dict):  # one row per member (an FTTR service's rooms, SSIDs)
                out.print(f"            {k}", markup=False)
                for member, facts in v.items():
                    text = ", ".join(f"{a} {b}" for a, b in facts.items()) if isinstance(facts, dict) else facts
                    out.print(f"              {member:16} {text}", markup=False)
            elif isinstance(v, list):  # names (a bulk change's lines): the count first, then some
                names = v if full or len(v) <= MAX_NAMES else \
                    v[:MAX_NAMES] + [f"... {len(v) - MAX_NAMES} more (--full)"]
                out.print(f"            {k:18} {len(v)}" + (f": {', '.join(map(str, names))}" if v else ""),
                          markup=False)
            else:
                out.print(f"            {k:18} {v}", markup=False)
    if len(carried) < len(result.carried):
        out.print(f"... and {len(result.carried) - len(carried)} more services planned earlier, not applied yet, "
                  f"whose changes this plan carries (--full names them)", markup=False)
    out.print()
    shown = 0
    for d in result.devices:
        plus = sum(1 for line in d.diff if line.startswith("+") and not line.startswith("+++"))
        minus = sum(1 for line in d.diff if line.startswith("-") and not line.startswith("---"))
        state = f"+{plus} -{minus} lines" if d.changed else "in sync, no change"
        out.print(f"[bold]{d.device}[/bold] ({d.kind}, {len(d.services)} service(s)): {state}")
        if d.changed and (full or shown + len(d.diff) <= 400):
            for line in d.diff:
                style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" \
                    if line.startswith("@@") else None
                out.print(line, style=style, markup=False)
            shown += len(d.diff)
            out.print("  NETCONF edit-config payload:", style="bold")
            out.print(d.edit, markup=False)
        elif d.changed:
            where = f" see {out_dir}/{d.device}.diff and {d.device}.edit.xml" if out_dir else " use --out DIR or --full"
            out.print(f"  (diff not shown:{where})", style="dim")
    if out_dir:
        out.print(f"\nartifacts in {out_dir}/ (manifest.json lists them with sha256)")


def _out_folder(out_dir: Optional[Path], option: str = "--out", within: bool = False) -> None:
    """Refused before anything is planned: the plan's folder replaces what is there whole (within:
    plans are folders made inside it)."""
    if out_dir is None:
        return
    if (out_dir.exists() or out_dir.is_symlink()) and not out_dir.is_dir():
        raise FullbarsError(f"{option} {out_dir} is a file, not a folder: the plan's artifacts would replace it",
                            fix="name a folder (created if missing, or replaced by the plan's artifacts)")
    # The folder is written beside itself and swapped in: where it goes must take a new folder.
    where = out_dir.absolute() if within else out_dir.absolute().parent
    while not (where.exists() or where.is_symlink()):
        where = where.parent
    fix = "name a folder in a place you can write to"
    if not where.is_dir():
        raise FullbarsError(f"{option} {out_dir}: {where} is a file, not a folder", fix=fix)
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".fullbars-out-", dir=where))
    except OSError as e:
        raise FullbarsError(f"{option} {out_dir}: no folder can be made in {where} ({e.strerror})", fix=fix) from None


def _emit(result, fmt: Format, out_dir: Optional[Path], full: bool, command: str = "plan") -> None:
    _warnings(result)
    manifest = None
    if out_dir:
        from orchestrator.plan.artifacts import write

        manifest = write(result, out_dir)
    if fmt == Format.json:
        from orchestrator.plan.summary import counts

        data = {"command": command, "format_version": 1, "ok": True, "summary": counts(result),
                "held_back": result.held_back,
                "services": [s.as_dict() for s in result.services], "carried": [s.as_dict() for s in result.carried],
                "devices": [{"device": d.device, "kind": d.kind, "services": d.services, "changed": d.changed,
                             "diff": list(d.diff), "edit": d.edit} for d in result.devices]}
        if result.built_by:  # FULLBARS_PLAN_BUILDS=workers: which worker built how many devices
            data["built_by"] = result.built_by
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    elif fmt == Format.xml:
        for d in result.devices:
            sys.stdout.write(f"<!-- {d.device} ({d.kind}) -->\n{d.edit}")
        _note_held(result.held_back)
    else:
        _print_text(result, out_dir, full)
    return manifest


def _summary(result, due=None) -> None:
    from orchestrator.plan.summary import has_changes, line

    if due is not None and not result.services and not has_changes(result):
        # "as planned" would hide what earlier plans left for an apply to carry
        out.print(f"\nno changes: nothing is due on {due} (no stored service has changed with time); what earlier "
                  "plans made and no apply carried yet stays as planned (fullbars status)", markup=False)
    else:
        out.print(f"\n{line(result)}", markup=False)
    _note_held(result.held_back)


def _note_held(back: dict) -> None:
    for name, where in list(back.items())[:MAX_NAMES]:
        whole = where.get("plan", name)
        err.print(f"note: {name} (planned earlier, never applied) is left off {', '.join(where['left_off'])} by "
                  f"this plan, which does not reach its {', '.join(where['waits_for'])}: apply its own plan, or "
                  f"plan {whole} with this change (name its file too), to put it on all its devices at once",
                  style="yellow", markup=False)
    if len(back) > MAX_NAMES:
        err.print(f"note: ... and {len(back) - MAX_NAMES} more services left off", style="yellow", markup=False)


def _progress():
    from orchestrator.progress import printer

    return printer(err)


@app.command()
def plan(intents: Optional[List[Path]] = typer.Argument(None, help="Intent YAML files."),
         network: Optional[Path] = typer.Option(None, "--network", help="Network description YAML "
                                                "(remembered in the store for later commands)."),
         out_dir: Optional[Path] = OutOpt,
         fmt: Format = FormatOpt,
         full: bool = FullOpt,
         detailed: bool = typer.Option(False, "--detailed-exitcode", help="Exit 0 when nothing changes, 2 when "
                                       "something does, 1 on any error (bad input included), as Terraform does."),
         target: Optional[str] = typer.Option(None, "--target", help="The environment whose devices the edits start "
                                              "from: lab (with --lab) or a name (default: the one applied last)."),
         lab: Optional[Path] = LabOpt,
         due: bool = typer.Option(False, "--due", help="Also plan the stored services that time alone has changed "
                                  "since they were planned (a tenure counted from customer-since that has grown), "
                                  "as of today (the clock's, or FULLBARS_NOW)."),
         db: Optional[str] = DbOpt, lock_timeout: Optional[float] = LockOpt):
    """Allocate, render and validate; show per device the diff and the NETCONF edit."""
    from orchestrator import clock
    from orchestrator.plan.pipeline import plan as run
    from orchestrator.plan.summary import has_changes
    from orchestrator.rollout.environments import label

    try:
        if not intents and not due:
            raise FullbarsError("name the intent files to plan, or pass --due",
                                fix="fullbars plan intents/*.yaml, or fullbars plan --due -o DIR")
        _out_folder(out_dir)
        store = _store("plan", db, lock_timeout=lock_timeout)
        today = clock.now().date() if due else None
        result = run(store, str(network) if network else None, [str(p) for p in intents or []],
                     progress=_progress(), environment=_known(store, label(target, lab)) if target else None, due=today)
        _emit(result, fmt, out_dir, full)
        if fmt == Format.text:
            from orchestrator.rollout.waves import WAVE_KINDS, describe, wave_plan

            for s in result.services:
                if s.kind in WAVE_KINDS:
                    out.print("\nrollout (fullbars rollout):", style="bold")
                    for line in describe(wave_plan(store, s, result.network, result.environment)):
                        out.print(line, markup=False)
            _summary(result, today)
    except FullbarsError as e:
        _fail(e, "plan" if fmt == Format.json else None, 1 if detailed else 2)
    if detailed and has_changes(result):
        raise typer.Exit(2)


@app.command()
def delete(names: List[str] = typer.Argument(..., help="Service (intent) names."),
           network: Optional[Path] = NetworkOpt,
           out_dir: Optional[Path] = OutOpt,
           fmt: Format = FormatOpt,
           full: bool = FullOpt,
           db: Optional[str] = DbOpt, lock_timeout: Optional[float] = LockOpt):
    """Plan the removal of services: their config leaves the devices when a later `apply` carries it;
    until then they keep what they hold, and drift names them as pending removal."""
    from orchestrator.plan.pipeline import plan as run

    try:
        _out_folder(out_dir)
        result = run(_store("delete", db, lock_timeout=lock_timeout), str(network) if network else None, [], delete=names)
        _emit(result, fmt, out_dir, full, command="delete")
        if fmt == Format.text:
            _summary(result)
    except FullbarsError as e:
        _fail(e, "delete" if fmt == Format.json else None)


@app.command()
def status(fmt: TextOrJson = OutFmtOpt, db: Optional[str] = DbOpt):
    """List the services in the store with their allocations."""
    from orchestrator.app.services import status as services

    try:
        store = _store("status", db, create=False)  # a read: a store mistyped is not made empty
        st = services(store)
    except FullbarsError as e:
        _fail(e, "status" if fmt == TextOrJson.json else None)
    if fmt == TextOrJson.json:
        from orchestrator.json_output import emit

        return emit("status", True, store=st["store"], services=st["services"])
    out.print(f"{len(st['services'])} service(s) in {st['store']}" + (" (no store there yet)" if store.missing else ""))
    for svc in st["services"]:
        out.print(f"  {svc['kind']:18} {svc['name']:32} {svc['state']:15} {' '.join(svc['held'])}", markup=False)


@app.command()
def environment(target: str = typer.Argument(..., help="lab (with --lab) or an environment's name."),
                lab: Optional[Path] = LabOpt,
                evidence: Optional[str] = typer.Option(None, "--evidence", help="required: applying a bundle here "
                                                       "needs a passing lab verification of it; optional."),
                description: Optional[str] = typer.Option(None, "--description", help="Free text."),
                db: Optional[str] = DbOpt):
    """Show an environment's description (whether it needs lab evidence); change it with the options."""
    from orchestrator.app.environments import describe
    from orchestrator.rollout.environments import label

    try:
        d = describe(_store("environment", db), label(target, lab), evidence, description)
    except FullbarsError as e:
        _fail(e)
    out.print(f"{d['environment']}: lab evidence {d['evidence']}{' (default)' if d['default'] else ''}"
              + (f"; {d['description']}" if d["description"] else ""), markup=False)


@network_app.command("generate")
def network_generate(olts: int = typer.Option(4, help="OLTs."), ports: int = typer.Option(16, help="PON ports per OLT."),
                     bngs: int = typer.Option(2, help="BNGs; the OLTs are spread over them."),
                     sites: Optional[int] = typer.Option(None, help="Sites the OLTs are spread over."),
                     pon_type: str = typer.Option("xgs-pon", "--type", help="PON type of every port: xgs-pon or gpon."),
                     name: str = typer.Option("generated", help="The network's metadata.name.")):
    """Print a network description of the given size."""
    from orchestrator.network.generate import generate

    try:
        sys.stdout.write(generate(olts, ports, bngs, sites, pon_type, name))
    except FullbarsError as e:
        _fail(e)


@network_app.command("radio-area")
def network_radio_area(out: Path = typer.Argument(..., help="Folder to write into."),
                       cells: int = typer.Option(500, help="Cells on air (3 per site)."),
                       points: int = typer.Option(2000, help="Measured points, all below target."),
                       seed: int = typer.Option(17, help="The same seed writes the same files.")):
    """Write a generated radio area: network.yaml with sites.csv and cells.csv (PCIs without clashes),
    points.csv measured in its weak spots, and fill.yaml, a CoverageFill of candidate sites there."""
    from orchestrator.network.generate_radio import generate

    if cells < 1 or points < 1:
        _fail(FullbarsError("--cells and --points must be at least 1", fix="for example --cells 500 --points 2000"))
    if seed < 0:
        _fail(FullbarsError(f"--seed {seed} is negative", fix="give --seed a whole number from 0"))
    try:
        made = generate(out, cells, points, seed)
    except OSError as e:
        _fail(FullbarsError(f"cannot write into {out}: {e.strerror}", fix="give a folder you may write"))
    sys.stdout.write(f"{out}: {made['sites']} sites, {made['cells']} cells, {made['points']} points, "
                     f"{made['candidates']} candidate sites\n")


@app.command()
def devsim(kind: Optional[str] = typer.Option(None, "--kind", help="Device kind, e.g. olt-bbf."),
           listen: Optional[str] = typer.Option(None, "--listen", help="HOST:PORT for NETCONF over SSH."),
           state: Optional[Path] = typer.Option(None, "--state", help="State dir: datastores and host key."),
           name: Optional[str] = typer.Option(None, "--name", help="Device name (default: the state dir's name)."),
           fleet: Optional[Path] = typer.Option(None, "--fleet", help="YAML file of many devices for one process."),
           user: str = typer.Option("fullbars", "--user", help="The NETCONF user name."),
           password_env: Optional[str] = typer.Option(None, "--password-env",
                                                      help="Environment variable holding the password."),
           authorized_keys: Optional[Path] = typer.Option(None, "--authorized-keys",
                                                          help="OpenSSH authorized_keys file for public-key login."),
           fork: bool = typer.Option(False, "--fork", help="With --fleet: one forked process per device, "
                                     "then return (each writes <state>/devsim.pid).")):
    """Run simulated NETCONF devices whose datastores libyang validates with the kind's models."""
    import asyncio

    from orchestrator.devsim.run import DeviceSpec, auth_from, fork_fleet, load_fleet, parse_listen, run

    try:
        auth = auth_from(user, password_env, str(authorized_keys) if authorized_keys else None)
        if fleet:
            specs = load_fleet(fleet)
            if fork:
                pids = fork_fleet(specs, auth)
                err.print(f"devsim: {len(pids)} device processes started")
                return
        else:
            if not (kind and listen and state):
                raise FullbarsError("give --kind, --listen and --state (or --fleet FILE)")
            host, port = parse_listen(listen)
            specs = [DeviceSpec(name or state.name, kind, host, port, state)]

        def ready(sp):
            for d in sp:
                err.print(f"devsim: {d.name} ({d.kind}) listening on {d.host}:{d.port}, state in {d.state}")
        asyncio.run(run(specs, auth, ready))
    except FullbarsError as e:
        _fail(e)
    except OSError as e:
        err.print(f"error: cannot listen: {e}")
        raise typer.Exit(2)


def _target(target: str, lab: Optional[Path], network, store):
    from orchestrator.rollout.targets import lab_target, network_target

    if target == "lab":
        if lab is None:
            raise FullbarsError("--target lab needs --lab FILE (the lab's topology file)",
                                fix="fullbars lab generate PLAN_DIR --name NAME -o labs/NAME.clab.yml; fullbars lab up ...")
        return lab_target(lab)
    _known(store, f"env:{target}")
    return network_target(target, network)


def _known(store, env: str) -> str:
    from orchestrator.rollout.environments import refuse_typo

    with store.transaction(write=False) as s:
        refuse_typo(s, env)
    return env


def _network_for(store, network: Optional[Path]):
    from orchestrator.network.model import load_network
    from orchestrator.resources.store import Store

    if network:
        return load_network(network)
    with store.transaction(write=False) as s:
        row = Store.network(s)
    if row is None:
        raise FullbarsError("no network description yet", fix="pass --network FILE")
    return load_network(row.source, row.text)


def _remembers_network(store) -> bool:
    """Whether the store keeps a network description (a lab's transactions need none)."""
    from orchestrator.resources.store import Store

    with store.transaction(write=False) as s:
        return Store.network(s) is not None


def _print_report(rep: dict) -> None:
    style = "green" if rep["outcome"] == "committed" else "red"
    out.print(rep["summary"], style=style, markup=False)
    for dev, d in sorted(rep["devices"].items()):
        how = f"{d['how']}. " if d.get("how") else ""
        again = f"edit step {d['retried']}. " if d.get("retried") else ""
        out.print(f"  {dev:24} {d['state']:14} {d['strategy']:20} {d['seconds']:6.2f} s  {again}{how}{d['error']}",
                  markup=False)
        for o in d.get("overwritten", []):
            ran = "it was removed there" if o["ran"] is None else f"it ran {o['ran']!r}"
            given = "fullbars had not set it" if o["given"] is None else f"fullbars had given {o['given']!r}"
            out.print(f"    changed outside fullbars, put back: {o['path']} ({ran}; {given})", style="yellow",
                      markup=False)


def _print_preview(devices: list[dict]) -> None:
    for d in devices:
        if "error" in d:
            out.print(f"{d['device']}: {d['error']}", style="red", markup=False)
            continue
        out.print(f"[bold]{d['device']}[/bold]: " + ("changes" if d["changed"] else "in sync, no change"))
        for line in d["diff"]:
            out.print(line, style="green" if line.startswith("+") else "red" if line.startswith("-") else None,
                      markup=False)


def _recover_first(store, network) -> None:
    from orchestrator.rollout.recover import recover, unfinished

    if unfinished(store):
        for r in recover(store, network):
            if not r.get("running"):
                err.print(f"recover: {r['tx']} was {r['was']}, now {r['now']}: {r['devices']}", markup=False)


@app.command()
def apply(intents: Optional[List[Path]] = typer.Argument(None, help="Intent YAML files, or one plan bundle (a "
                                                          "folder written by fullbars plan --out DIR), applied exactly "
                                                          "as it is; none: apply what is planned and pending (a delete, an "
                                                          "update planned since it was last applied)."),
          target: str = typer.Option(..., "--target", help="lab, or the name of an environment whose devices "
                                     "the network description addresses."),
          lab: Optional[Path] = typer.Option(None, "--lab", help="With --target lab: the lab's topology file."),
          network: Optional[Path] = NetworkOpt,
          dry_run: bool = typer.Option(False, "--dry-run", help="Show the edits against the live devices; change nothing."),
          confirm_timeout: int = typer.Option(120, "--confirm-timeout", help="Seconds a device waits for the "
                                              "confirming commit before it reverts by itself."),
          no_checks: bool = typer.Option(False, "--no-checks", help="Skip the lab's service checks before confirming."),
          as_json: bool = typer.Option(False, "--json", help="The transaction report, with its time per device and step, as JSON."),
          fmt: TextOrJson = OutFmtOpt,
          db: Optional[str] = DbOpt, lock_timeout: Optional[float] = LockOpt):
    """Plan, then give every touched device its config in one network-wide transaction."""
    from orchestrator.plan.pipeline import plan as run
    from orchestrator.rollout.apply import apply as do_apply
    from orchestrator.rollout.apply import dry_run as preview

    as_json = as_json or fmt == TextOrJson.json
    try:
        store = _store("apply", db, lock_timeout=lock_timeout)
        net = _network_for(store, network)
        tgt = _target(target, lab, net, store)
        _recover_first(store, net)
        intents = intents or []
        if len(intents) == 1 and intents[0].is_dir():  # a bundle: exactly what it holds, not planned again
            from orchestrator.rollout.promote import apply_dir

            rep = apply_dir(store, intents[0], tgt, confirm_timeout, checks=not no_checks, dry_run_only=dry_run,
                            progress=_progress(), say=lambda t: out.print(t, markup=False))
            if dry_run:
                _print_preview(rep["preview"])
                return
        else:
            from orchestrator.rollout.promote import intents_pins

            pending = []
            if not intents:  # what is planned and not applied yet: removals (the plan's own), updates
                from orchestrator.resources.service_versions import planned_since_applied

                with store.transaction(write=False) as s:
                    pending = planned_since_applied(s)
            pins = None if dry_run else intents_pins(store, str(network) if network else None, [str(p) for p in intents],
                                                     tgt.label, pending)
            result = run(store, str(network) if network else None, [str(p) for p in intents], environment=tgt.label,
                         stored=pending)
            if not result.services:
                raise FullbarsError("nothing to apply: no intent given and no change pending",
                                    fix="give intent files or a plan bundle, or plan a removal with "
                                        "`fullbars delete NAME` first")
            if dry_run:
                _print_preview(preview(result, tgt))
                return
            _note_held(result.held_back)
            rep = do_apply(store, result, tgt, confirm_timeout, checks=not no_checks, progress=_progress(), pins=pins)
            if rep["outcome"] == "committed":
                from orchestrator.rollout.waves import WAVE_KINDS, record

                for s in result.services:  # given all at once: the change has reached all its OLTs
                    if s.kind in WAVE_KINDS:
                        record(store, s.name, s.resources["olts"], 0, rep["tx"])
    except FullbarsError as e:
        _fail(e, "apply" if as_json else None)
    if as_json:
        from orchestrator.json_output import emit

        emit("apply", rep["outcome"] == "committed", **rep)
    else:
        from orchestrator.rollout.timing import describe

        _print_report(rep)
        for line in describe(rep):
            out.print(line, markup=False)
    if rep["outcome"] != "committed":
        raise typer.Exit(1)


@app.command()
def recover(network: Optional[Path] = NetworkOpt, db: Optional[str] = DbOpt):
    """Finish or undo transactions a dead fullbars process left in flight."""
    from orchestrator.rollout.recover import recover as do

    try:
        store = _store("recover", db)
        done = do(store, _network_for(store, network) if network or _remembers_network(store) else None)
    except FullbarsError as e:
        _fail(e)
    if not done:
        out.print("nothing in flight")
    for r in done:
        if r.get("running"):
            out.print(f"{r['tx']}: {r['was']}, left alone: {r['running']} is running it", markup=False)
            continue
        out.print(f"{r['tx']}: was {r['was']}, now {r['now']}", markup=False)
        for dev, note in sorted(r["devices"].items()):
            out.print(f"  {dev:24} {note}", markup=False)


@app.command()
def history(limit: int = typer.Option(20, min=1, help="How many transactions, newest first."),
            target: Optional[str] = typer.Option(None, "--target", help="Only this environment's: lab (with --lab) "
                                                 "or a name."),
            lab: Optional[Path] = LabOpt, fmt: TextOrJson = OutFmtOpt, db: Optional[str] = DbOpt):
    """Past transactions, newest first."""
    from orchestrator import json_output
    from orchestrator.rollout.environments import label
    from orchestrator.rollout.transaction import history as hist

    try:
        rows = hist(_store("history", db, create=False), limit, label(target, lab) if target else None)
    except FullbarsError as e:
        _fail(e, "history" if fmt == TextOrJson.json else None)
    if fmt == TextOrJson.json:
        return json_output.emit("history", True, **json_output.history(rows))
    if not rows:
        out.print("no transactions yet" + (f" on {label(target, lab)}" if target else ""), markup=False)
    for t in rows:  # one row each: a device's error text may span lines
        out.print(f"{t.id}  {t.created_at}  {t.kind:9} {t.state:12} {' '.join(t.summary.split())}", markup=False)


@app.command()
def rollback(tx: str = typer.Argument(..., help="The transaction to undo."),
             network: Optional[Path] = NetworkOpt,
             confirm_timeout: int = ConfirmOpt,
             db: Optional[str] = DbOpt):
    """Undo a past transaction: its devices get back the configs they had before it, as a new transaction."""
    from orchestrator.app.environments import rollback as do

    try:
        store = _store("rollback", db)
        done = do(store, tx, lambda: _network_for(store, network), confirm_timeout, _progress())
    except FullbarsError as e:
        _fail(e)
    for r in done["recovered"]:
        if not r.get("running"):
            err.print(f"recover: {r['tx']} was {r['was']}, now {r['now']}: {r['devices']}", markup=False)
    for note in done["notes"]:
        err.print(f"warning: {note}", style="yellow", markup=False)
    rep = done["report"]
    _print_report(rep)
    if rep["outcome"] != "committed":
        raise typer.Exit(1)


@app.command()
def drift(target: str = TargetOpt, lab: Optional[Path] = LabOpt,
          network: Optional[Path] = NetworkOpt,
          reconcile: bool = typer.Option(False, "--reconcile", help="Give drifted devices their intended config back."),
          fmt: TextOrJson = OutFmtOpt, db: Optional[str] = DbOpt):
    """check-sync: every device's running config against what fullbars gave it."""
    from orchestrator.rollout.drift import check
    from orchestrator.rollout.transaction import Change, Transaction

    try:
        store = _store("drift", db)
        net = _network_for(store, network) if target != "lab" else None
        tgt = _target(target, lab, net, store)
        _recover_first(store, net)  # the store's record must agree with the devices before it is compared
        found = check(store, tgt)
    except FullbarsError as e:
        _fail(e, "drift" if fmt == TextOrJson.json else None)
    drifted = [d for d in found if d.get("error") or not d["in_sync"]]
    pending = any(d.get("pending_removal") for d in found)
    if fmt == TextOrJson.json and not reconcile:
        from orchestrator import json_output

        json_output.emit("drift", not drifted and not pending, **json_output.drift(tgt.label, found))
        if drifted or pending:
            raise typer.Exit(1)
        return
    if not found:
        out.print(f"{tgt.label}: fullbars has given no device anything here (nothing to compare)", markup=False)
    for d in found:
        if d.get("error"):
            out.print(f"{d['device']}: {d['error']}", style="red", markup=False)
        elif d["in_sync"]:
            out.print(f"{d['device']}: in sync")
        else:
            out.print(f"{d['device']}: {len(d['differences'])} difference(s)", style="yellow")
            for x in d["differences"]:
                out.print(f"  {x['path']}: {x['what']}  (service: {x['service']})", markup=False)
        for name in d.get("pending_removal", []):
            out.print(f"{d['device']}: {name} is pending removal (planned, not applied: fullbars apply "
                      f"--target {target} removes it)", style="yellow", markup=False)
    if reconcile and drifted:
        changes = [Change(d["device"], d["kind"], tgt.endpoint(d["device"]), d["intended"])
                   for d in drifted if not d.get("error")]
        rep = Transaction(store, changes, tgt.label, kind="reconcile").run()
        _print_report(rep)
        if rep["outcome"] != "committed":
            raise typer.Exit(1)
        return
    if drifted or pending:
        raise typer.Exit(1)


@app.command()
def check(line: str = typer.Argument(..., help="The service (intent name) of the line."),
          target: str = TargetOpt, lab: Optional[Path] = LabOpt,
          network: Optional[Path] = NetworkOpt,
          no_measure: bool = typer.Option(False, "--no-measure", help="In a lab, skip the iperf3 measurement."),
          as_json: bool = JsonOpt, db: Optional[str] = DbOpt):
    """A line's network check: ONU presence and oper-status, counters, the BNG side; in a lab, throughput."""
    from orchestrator.rollout.check import check as do, text

    try:
        store = _store("check", db)
        net = _network_for(store, network) if target != "lab" else None
        rep = do(store, _target(target, lab, net, store), line, str(network) if network else None, measure=not no_measure)
    except FullbarsError as e:
        _fail(e)
    if as_json:
        sys.stdout.write(json.dumps(rep, indent=2) + "\n")
    else:
        out.print(text(rep), markup=False)
    if not rep["ok"]:
        raise typer.Exit(1)


@app.command()
def rollout(change: Path = typer.Argument(..., help="A bulk change (SpeedUpgrade) or coverage fill YAML file."),
            target: str = typer.Option(..., "--target", help="lab, or the name of an environment."),
            lab: Optional[Path] = typer.Option(None, "--lab", help="With --target lab: the lab's topology file."),
            network: Optional[Path] = NetworkOpt,
            pause: float = typer.Option(0.0, "--pause", help="Seconds to watch between waves."),
            dry_run: bool = typer.Option(False, "--dry-run", help="Show the waves and the estimate; change nothing."),
            on_workers: bool = typer.Option(False, "--workers", help="Hand it to `fullbars worker` processes "
                                            "and wait for it (default: run it here)."),
            confirm_timeout: int = ConfirmOpt,
            as_json: bool = JsonOpt, db: Optional[str] = DbOpt):
    """Give a bulk change (or a coverage fill) to the network in waves: a canary, then wider; a failing wave rolls
    back and stops. A rollout is a durable workflow: if this process dies, a running `fullbars worker` finishes it."""
    from orchestrator.engine import api, runtime
    from orchestrator.rollout import waves

    try:
        store = _store("rollout", db)
        net = _network_for(store, network)
        if dry_run:
            from orchestrator.rollout.environments import label

            _, wp = waves.prepare(store, str(network) if network else None, str(change), _known(store, label(target, lab)))
            for line in waves.describe_plan(wp):
                out.print(line, markup=False)
            return
        tgt = _target(target, lab, net, store)
        _recover_first(store, net)
        say = lambda t: err.print(t, markup=False)  # noqa: E731
        try:
            if on_workers:
                wid = api.start_rollout(store, str(change), tgt, str(network) if network else None, confirm_timeout, pause)
                say(f"workflow {wid}: queued for the workers")
                rep = api.wait(store.url, wid, on_step=lambda s: _said_wave(s, say))
            else:
                rep = api.run_rollout(store, str(change), tgt, str(network) if network else None, confirm_timeout,
                                      pause, say=say, progress=_progress())
        finally:
            runtime.shutdown()
    except FullbarsError as e:
        _fail(e)
    if as_json:
        sys.stdout.write(json.dumps(rep, indent=2, sort_keys=True) + "\n")
    else:
        out.print(f"rollout of {rep['change']}: {rep['outcome']}; reached {len(rep['reached'])} "
                  f"{rep.get('unit', 'OLT')}(s)", markup=False)
    if rep["outcome"] != "committed":
        raise typer.Exit(1)


def _said_wave(step: dict, say) -> None:
    """A wave a worker finished, told by the workflow's recorded step."""
    row = step.get("output")
    if step.get("function_name") == "fullbars.rollout.wave" and isinstance(row, dict):
        say(f"  {row['name']}: {row['outcome']} on {len(row.get('devices', []))} device(s) ({row.get('tx', '')})")


@app.command()
def suspend(line: Optional[str] = typer.Argument(None, help="The line (service name) to suspend."),
            reason: str = typer.Option("arrears", "--reason", help="arrears, request or fraud."),
            arrears_since: Optional[str] = typer.Option(None, "--arrears-since",
                                                        help="YYYY-MM: the first month in arrears."),
            due_now: bool = typer.Option(False, "--due", help="Carry out the held suspensions whose grace is over."),
            target: str = TargetOpt, lab: Optional[Path] = LabOpt,
            network: Optional[Path] = NetworkOpt,
            confirm_timeout: int = ConfirmOpt, db: Optional[str] = DbOpt, lock_timeout: Optional[float] = LockOpt):
    """Suspend a line (its BNG sub-interface is disabled); held while an ArrearsGrace policy covers it,
    and carried out by a `fullbars worker` when the window ends. The time is the clock's, or FULLBARS_NOW."""
    from orchestrator.engine import api, runtime
    from orchestrator.rollout import suspension

    try:
        store = _store("suspend", db, lock_timeout=lock_timeout)
        net = _network_for(store, network)
        tgt = _target(target, lab, net, store)
        _recover_first(store, net)
        try:
            if due_now:
                reps = api.carry_out_due(store, tgt, confirm_timeout, progress=_progress())
                if not reps:
                    out.print("no held suspension is due", markup=False)
            elif line:
                reps = [suspension.suspend(store, line, reason, tgt, arrears_since, confirm_timeout, _progress())]
                if reps[0]["outcome"] == "held":
                    api.hold_until_due(store.url, line, tgt.label, reps[0]["due"], confirm_timeout,
                                       hold=reps[0]["hold"])
            else:
                raise FullbarsError("name the line to suspend, or pass --due", fix="fullbars suspend LINE --reason arrears")
        finally:
            runtime.shutdown()
    except FullbarsError as e:
        _fail(e)
    for r in reps:
        out.print(f"{r['outcome']}: {r['summary']}", markup=False)
    if any(r["outcome"] in ("held", "failed") for r in reps):
        raise typer.Exit(1)


@app.command()
def resume(line: str = typer.Argument(..., help="The suspended line."),
           target: str = TargetOpt, lab: Optional[Path] = LabOpt,
           network: Optional[Path] = NetworkOpt,
           confirm_timeout: int = ConfirmOpt, db: Optional[str] = DbOpt, lock_timeout: Optional[float] = LockOpt):
    """Give a suspended line its service back: exactly the config it had before."""
    from orchestrator.rollout import suspension

    try:
        store = _store("resume", db, lock_timeout=lock_timeout)
        net = _network_for(store, network)
        tgt = _target(target, lab, net, store)
        _recover_first(store, net)
        r = suspension.resume(store, line, tgt, confirm_timeout, _progress())
    except FullbarsError as e:
        _fail(e)
    out.print(f"{r['outcome']}: {r['summary']}", markup=False)
    if r["outcome"] == "failed":
        raise typer.Exit(1)


@app.command()
def suspensions(fmt: TextOrJson = OutFmtOpt, db: Optional[str] = DbOpt):
    """Held, active and past suspensions."""
    from orchestrator.rollout.suspension import listing

    try:
        rows = listing(_store("suspensions", db, create=False))  # a read: a store mistyped is not made empty
    except FullbarsError as e:
        _fail(e, "suspensions" if fmt == TextOrJson.json else None)
    if fmt == TextOrJson.json:
        from orchestrator.json_output import emit

        return emit("suspensions", True, suspensions=rows)
    if not rows:
        out.print("no suspensions", markup=False)
    for r in rows:
        extra = f" by {r['policy']} until {r['due']}" if r["state"] == "held" else (f" {r['tx']}" if r["tx"] else "")
        out.print(f"{r['line']:24} {r['state']:11} {r['reason']:8} asked {r['asked']}{extra}", markup=False)


@app.command()
def worker(db: Optional[str] = DbOpt,
           executor: Optional[str] = typer.Option(None, "--id", help="This executor's id (default: worker-HOST-PID-RANDOM)."),
           heartbeat: float = typer.Option(1.0, "--heartbeat", help="Seconds between heartbeats."),
           dead_after: float = typer.Option(10.0, "--dead-after", help="Seconds without a heartbeat after which "
                                            "another executor is taken for dead and its workflows recovered."),
           plan_due: Optional[Path] = typer.Option(None, "--plan-due", help="Have the workers plan, every day, the "
                                                   "services time alone has changed (`plan --due`: a tenure that "
                                                   "crossed a year), writing each plan to DIR/due-DAY."),
           plan_due_at: str = typer.Option("0 2 * * *", "--plan-due-at", help="When that plan runs: a cron "
                                           "expression in UTC.")):
    """Run a durable-engine executor until SIGTERM: rollouts handed to the workers, grace-window timers,
    the daily plan of what time changes (--plan-due), device builds of plans made with
    FULLBARS_PLAN_BUILDS=workers (PostgreSQL), and the workflows of any executor that stops
    beating. Any number, on any machines, sharing one PostgreSQL."""
    from orchestrator.engine import api

    try:
        api.check_timing(heartbeat, dead_after)
        if plan_due is not None:
            api.check_cron(plan_due_at)
            _out_folder(plan_due, "--plan-due", within=True)  # each day's plan is a folder made in it
        store = _store("worker", db)
        api.work(store.url, executor, heartbeat, dead_after, say=lambda t: err.print(t, markup=False),
                 plan_due=(str(plan_due.resolve()), plan_due_at) if plan_due is not None else None)
    except FullbarsError as e:
        _fail(e)


@app.command("ansible-apply")
def ansible_apply(plan_dir: Path = PlanDirArg, target: str = TargetOpt,
                  lab: Optional[Path] = LabOpt, network: Optional[Path] = NetworkOpt,
                  forks: int = typer.Option(10, "--forks", help="Devices Ansible configures at once."), db: Optional[str] = DbOpt):
    """Ship a plan's edit payloads with playbooks/apply.yml through ansible-runner (no transaction)."""
    from orchestrator.plan.bundle import checked
    from orchestrator.rollout.ansible import run

    try:
        store = _store("ansible apply", db)
        net = _network_for(store, network) if target != "lab" else None
        tgt = _target(target, lab, net, store)
        checked(store, plan_dir, tgt.label, edits=True)  # it ships the edit files as they are
        res = run(plan_dir, tgt, forks=forks)
    except FullbarsError as e:
        _fail(e)
    out.print(f"ansible-runner: {res['status']} (rc {res['rc']}); ok: {len(res['ok'])}, failed: {', '.join(res['failed']) or 'none'}")
    if res["rc"] != 0:
        raise typer.Exit(1)


@app.command()
def server(host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
           port: int = typer.Option(8080, "--port", min=0, max=65535,
                                    help="Port (0: any free one; the URL printed names it)."),
           admin: Optional[str] = typer.Option(None, "--admin", help="Create this first admin if the store has no "
                                               "such user; the password comes from --admin-password-file or "
                                               "$FULLBARS_ADMIN_PASSWORD, never the command line."),
           admin_password_file: Optional[Path] = typer.Option(None, "--admin-password-file",
                                                             help="A file holding the first admin's password."),
           network: Optional[Path] = typer.Option(None, "--network", help="The network description rollouts and "
                                                  "drift address devices by (default: the one the store remembers)."),
           workdir: Path = typer.Option(Path(".fullbars/server"), "--workdir", help="Where change requests' "
                                        "intents and bundles are kept."),
           run_for: Optional[float] = typer.Option(None, "--for", help="Stop by itself after SECONDS (a smoke test)."),
           trust_proxy: list[str] = typer.Option([], "--trust-proxy", help="The address of a reverse proxy (TLS "
                                                 "in front of the server) whose X-Forwarded-For and "
                                                 "X-Forwarded-Proto name the client and scheme; repeat for "
                                                 "several. Without it those headers are ignored."),
           db: Optional[str] = DbOpt):
    """The REST API (OpenAPI at /openapi.json) and the web page, with users, roles, change requests
    and live rollouts; prints its URL once it answers."""
    import os

    from orchestrator.api.server import serve
    from orchestrator.app.users import ensure_admin

    try:
        if network:  # read now: a description missing or broken would fail every submission, blaming its intents
            _network_for(None, network)
        store = _store("server", db)
        if admin:
            if admin_password_file:
                from orchestrator.private_files import read_private

                password = read_private(admin_password_file, "the admin's password",
                                        "head -c 18 /dev/urandom | base64 > admin.password")
            else:
                password = os.environ.get("FULLBARS_ADMIN_PASSWORD", "")
            if not password:
                raise FullbarsError("--admin needs a password: --admin-password-file FILE or $FULLBARS_ADMIN_PASSWORD",
                                    fix="head -c 18 /dev/urandom | base64 > admin.password")
            if ensure_admin(store, admin, password):
                out.print(f"created the first admin {admin}", markup=False)
        workdir.mkdir(parents=True, exist_ok=True)
        serve(store, workdir.resolve(), host, port, str(network.resolve()) if network else None,
              say=lambda t: out.print(t, markup=False), run_for=run_for, trust_proxy=trust_proxy)
    except FullbarsError as e:
        _fail(e)


ServerOpt = typer.Option(None, "--server", envvar="FULLBARS_SERVER", help="A fullbars server's URL: act through "
                         "its REST API as the user of the API token in $FULLBARS_TOKEN or --token-file, instead of "
                         "on a local store (default: $FULLBARS_SERVER).")
TokenFileOpt = typer.Option(None, "--token-file", envvar="FULLBARS_TOKEN_FILE", help="With --server: a file only you "
                            "may read (mode 0600) holding the API token (default: $FULLBARS_TOKEN_FILE, else "
                            "$FULLBARS_TOKEN).")


def _server(url: Optional[str], token_file: Optional[Path]):
    """The server's client (orchestrator/api/client.py), or None: act on the local store."""
    if not url:
        return None
    from orchestrator.api.client import Client, token

    return Client(url, token(token_file))


def _refused(e: FullbarsError, as_json: str | None = None) -> None:
    """A refusal: exit 2, as bad input; 1 when the server could not be asked or failed."""
    from orchestrator.api.client import Unreachable

    _fail(e, as_json, 1 if isinstance(e, Unreachable) else 2)


@app.command()
def audit(user: Optional[str] = typer.Option(None, "--user", help="Only what this user did."),
          action: Optional[str] = typer.Option(None, "--action", help="Actions starting with this (change- gives "
                                               "every step of change requests)."),
          subject: Optional[str] = typer.Option(None, "--subject", help="Exactly this subject, e.g. change:7."),
          since: Optional[str] = typer.Option(None, "--since", help="An ISO 8601 time (UTC unless it gives an offset) or a day: rows at or after it."),
          limit: int = typer.Option(50, "--limit", min=1, max=1000,
                                    help="How many rows, newest first (at most 1000, as the API)."),
          fmt: TextOrJson = OutFmtOpt, db: Optional[str] = DbOpt,
          server: Optional[str] = ServerOpt, token_file: Optional[Path] = TokenFileOpt):
    """The audit trail: who did what, when, from where; append-only."""
    from orchestrator.app.audit import listing

    try:
        remote = _server(server, token_file)
        rows = remote.audit(user, action, subject, since, limit) if remote else \
            listing(_store("audit", db), user, action, subject, since, limit)
    except FullbarsError as e:
        _refused(e, "audit" if fmt == TextOrJson.json else None)
    if fmt == TextOrJson.json:
        from orchestrator.json_output import emit

        return emit("audit", True, rows=rows)
    for r in rows:
        out.print(f"{r['id']:6} {r['at']}  {r['actor']:16} {r['origin']:20} {r['action']:18} {r['subject']}  "
                  f"{json.dumps(r['detail'], sort_keys=True)}", markup=False)


WorkdirOpt = typer.Option(Path(".fullbars/server"), "--workdir", help="Where change requests' intents and bundles "
                          "are kept (the server's --workdir).")
ChangeArg = typer.Argument(..., help="The change request's number.")


def _print_change(c: dict) -> None:
    out.print(f"change {c['id']}: {c['state']}  {c['title']}  (target {c['target']}, submitted by {c['submitter']}"
              + (f", approved by {c['approver']}" if c["approver"] else "") + f"; bundle {c['bundle_id'][:12]}…)",
              markup=False)
    if c["error"]:
        out.print(c["error"], style="red", markup=False)
    _note_held(c.get("held_back") or {})  # (a change just submitted)


def _change(server, token_file, local, remote) -> None:
    """One change command: remote(client) against a server (--server), else local() on the store;
    either returns the change, printed the same way."""
    try:
        client = _server(server, token_file)
        _print_change(remote(client) if client else local())
    except FullbarsError as e:
        _refused(e)


@change_app.command("list")
def change_list(db: Optional[str] = DbOpt, server: Optional[str] = ServerOpt,
                token_file: Optional[Path] = TokenFileOpt):
    """Every change request, newest first."""
    from orchestrator.app.changes import listing

    try:
        client = _server(server, token_file)
        for c in client.listing() if client else listing(_store("change list", db)):
            _print_change(c)
    except FullbarsError as e:
        _refused(e)


@change_app.command("show")
def change_show(change: int = ChangeArg, db: Optional[str] = DbOpt, server: Optional[str] = ServerOpt,
                token_file: Optional[Path] = TokenFileOpt):
    """A change request with its devices, evidence and rollout per wave and device."""
    from orchestrator.app.changes import show

    try:
        client = _server(server, token_file)
        c = client.show(change) if client else show(_store("change show", db), change)
    except FullbarsError as e:
        _refused(e)
    _print_change(c)
    ev = c["evidence"]
    out.print(f"  evidence: {'none' if ev is None else ('verification %s %s' % (ev['id'], 'passed' if ev['ok'] else 'FAILED'))}",
              markup=False)
    for w in c["rollout"]["waves"]:
        for d in w["devices"]:
            out.print(f"  wave {w['wave']} ({w['state']}): {d['device']:24} {d['state']} {d['error']}", markup=False)


@change_app.command("submit")
def change_submit(intents: List[Path] = typer.Argument(..., help="Intent YAML files."),
                  target: str = typer.Option(..., "--target", help="The environment to roll out to."),
                  title: str = typer.Option(..., "--title", help="What the change is, in a line."),
                  network: Optional[Path] = NetworkOpt, workdir: Path = WorkdirOpt, db: Optional[str] = DbOpt,
                  server: Optional[str] = ServerOpt, token_file: Optional[Path] = TokenFileOpt):
    """Plan intents into a change request's bundle."""
    from orchestrator.app.changes import submit

    if server and network:
        _fail(FullbarsError("--network cannot be given with --server: the server plans against its own network "
                            "description", path="--network", fix="leave out --network"))
    texts = {}
    for p in intents:
        try:
            texts[p.name] = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            _fail(FullbarsError(f"cannot read {p}: {e}", file=str(p), fix="give a readable intent YAML file"))
    _change(server, token_file,
            lambda: submit(_store("change submit", db), workdir.resolve(), title, texts, target,
                           str(network) if network else None),
            lambda c: c.submit(title, texts, target))


@change_app.command("evidence")
def change_evidence(change: int = ChangeArg, verification: int = typer.Argument(..., help="The lab verification "
                                                                                  "(fullbars lab verify prints it)."),
                    db: Optional[str] = DbOpt, server: Optional[str] = ServerOpt,
                    token_file: Optional[Path] = TokenFileOpt):
    """Attach a lab verification of the change's bundle."""
    from orchestrator.app.changes import attach_evidence

    _change(server, token_file, lambda: attach_evidence(_store("change evidence", db), change, verification),
            lambda c: c.attach_evidence(change, verification))


@change_app.command("approve")
def change_approve(change: int = ChangeArg, db: Optional[str] = DbOpt, server: Optional[str] = ServerOpt,
                   token_file: Optional[Path] = TokenFileOpt):
    """Approve a verified change someone else submitted."""
    from orchestrator.app.changes import approve

    _change(server, token_file, lambda: approve(_store("change approve", db), change),
            lambda c: c.event(change, "approve"))


@change_app.command("rollout")
def change_rollout(change: int = ChangeArg, network: Optional[Path] = NetworkOpt, confirm_timeout: int = ConfirmOpt,
                   each: bool = typer.Option(False, "--confirm-each-wave", help="After each wave's confirmed commit, "
                                             "wait for `fullbars change confirm N` (or reject) before its confirming "
                                             "commit; unconfirmed, the devices revert by themselves."),
                   db: Optional[str] = DbOpt, server: Optional[str] = ServerOpt,
                   token_file: Optional[Path] = TokenFileOpt):
    """Roll an approved change out, wave by wave, here (--server: the server does, and this waits meanwhile)."""
    from orchestrator.app.rollouts import start

    if server and network:
        _fail(FullbarsError("--network cannot be given with --server: the server addresses devices by its own "
                            "network description", path="--network", fix="leave out --network"))

    def local():
        store = _store("change rollout", db)
        return start(store, change, lambda: _network_for(store, network), None, confirm_timeout, each)
    _change(server, token_file, local,
            lambda c: c.start(change, confirm_each_wave=each, confirm_timeout=confirm_timeout))
    change_show(change, db, server, token_file)


def _change_event(event: str, doc: str) -> None:
    """One `fullbars change EVENT N` command: the app function of that name, on change N."""
    def command(change: int = ChangeArg, db: Optional[str] = DbOpt, server: Optional[str] = ServerOpt,
                token_file: Optional[Path] = TokenFileOpt):
        from orchestrator.app import changes, rollouts, wave_confirm

        owner = {"pause": rollouts, "resume": rollouts, "abort": rollouts, "confirm": wave_confirm,
                 "reject": wave_confirm}.get(event, changes)
        _change(server, token_file, lambda: getattr(owner, event)(_store(f"change {event}", db), change),
                lambda c: c.event(change, event))
    command.__doc__ = doc
    change_app.command(event)(command)


for _event, _doc in (("withdraw", "Withdraw your own change before it rolls out."),
                     ("pause", "Hold a rollout before its next wave."),
                     ("resume", "Let a paused rollout go on."),
                     ("abort", "Stop a rollout before its next wave (the waves done stay: roll back undoes them)."),
                     ("confirm", "Confirm the wave that awaits it (--confirm-each-wave): its confirming commit."),
                     ("reject", "Reject the wave that awaits its confirm: it rolls back, and the change fails.")):
    _change_event(_event, _doc)


@change_app.command("rollback")
def change_rollback(change: int = ChangeArg, network: Optional[Path] = NetworkOpt, confirm_timeout: int = ConfirmOpt,
                    db: Optional[str] = DbOpt, server: Optional[str] = ServerOpt,
                    token_file: Optional[Path] = TokenFileOpt):
    """Undo a change's committed waves, newest first."""
    from orchestrator.app.rollouts import roll_back

    def local():
        store = _store("change rollback", db)
        return roll_back(store, change, lambda: _network_for(store, network), confirm_timeout)
    _change(server, token_file, local, lambda c: c.event(change, "rollback"))


def _lab(file: Path):
    from orchestrator.lab.runtime import open_lab

    return open_lab(file)


def _lab_record(file_or_name: Path):
    from orchestrator.lab.runtime import open_record

    return open_record(file_or_name)


def _print_nodes(rows: list[dict]) -> None:
    for row in rows:
        out.print(f"{row['name']:24} {row['kind']:12} {row['agent']:9} {row['mgmt']:16} {row['state']}")


@lab_app.command("up")
def lab_up(file: Path = LabFileArg, timeout: float = typer.Option(60.0, help="Seconds for every node to answer NETCONF.")):
    """Create the lab (idempotent: restarts what died, with its datastore)."""
    try:
        lab = _lab(file)
        st = lab.up(timeout, progress=_progress())
        _print_nodes(lab.status())
        if st.get("restarted"):
            out.print(f"restarted: {', '.join(st['restarted'])}")
    except FullbarsError as e:
        _fail(e)


@lab_app.command("down")
def lab_down(file: Path = LabOrNameArg):
    """Remove everything the lab made: processes, namespaces, links, its state."""
    try:
        removed = _lab_record(file).down()
        out.print(f"removed {len(removed)} namespaces, links and users" if removed else "the lab was not up")
    except FullbarsError as e:
        _fail(e)


@lab_app.command("status")
def lab_status(file: Path = LabOrNameArg):
    """Each node: its agent and whether it answers."""
    try:
        rows = _lab_record(file).status()
    except FullbarsError as e:
        _fail(e)
    if not rows:
        out.print("the lab is not up")
        raise typer.Exit(1)
    _print_nodes(rows)
    if any(r["state"] != "running" for r in rows):
        raise typer.Exit(1)


@lab_app.command("inspect")
def lab_inspect(file: Path = LabOrNameArg):
    """JSON in the shape of containerlab's topology data."""
    try:
        sys.stdout.write(json.dumps(_lab_record(file).inspect(), indent=2) + "\n")
    except FullbarsError as e:
        _fail(e)


@lab_app.command("list")
def lab_list(fmt: TextOrJson = OutFmtOpt):
    """The labs recorded here ($FULLBARS_LAB_DIR): their topology file and how much of each is
    still up. A lab whose run was killed shows here; `fullbars lab down NAME` removes it."""
    from orchestrator.lab.runtime import lab_root, recorded_labs

    labs = recorded_labs()
    if fmt == TextOrJson.json:
        from orchestrator.json_output import emit

        return emit("lab list", True, root=str(lab_root()), labs=labs)
    if not labs:
        out.print(f"no lab is recorded in {lab_root()}", markup=False)
        return
    for r in labs:
        file = r["file"] if r["file_exists"] else f"{r['file'] or '-'} (gone)"
        out.print(f"{r['name']:24} {r['namespaces']}/{r['nodes']} namespaces up  "
                  f"watcher {'running' if r['watcher'] else 'stopped'}  {file}", markup=False)


@lab_app.command("generate")
def lab_generate(plan_dir: Path = PlanDirArg,
                 name: str = typer.Option(..., "--name", help="The lab's name (namespaces and management "
                                          "subnet derive from it)."),
                 output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the topology here "
                                                       "(default: print it)."),
                 no_cpe: bool = typer.Option(False, "--no-cpe", help="Leave out the CPEs (a lab for bulk changes).")):
    """Write the topology a plan needs (devices, a CPE per ONU, a server per BNG)."""
    from orchestrator.lab.generate import from_plan

    try:
        text = from_plan(plan_dir, name, cpes=not no_cpe)
    except FullbarsError as e:
        _fail(e)
    if output:
        try:
            output.write_text(text)
        except OSError as e:
            _fail(FullbarsError(f"cannot write {output}: {e.strerror}",
                                fix="give a file in a folder that exists and you may write"))
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@lab_app.command("push")
def lab_push(plan_dir: Path = PlanDirArg, file: Path = LabFileArg, db: Optional[str] = DbOpt):
    """Give the lab's devices the plan's configs over NETCONF and read them back."""
    from orchestrator.lab.push import push
    from orchestrator.plan.bundle import checked
    from orchestrator.rollout.environments import label

    try:
        checked(_store("lab push", db, create=False), plan_dir, label("lab", file))
        lab = _lab(file)
        st = lab.load_state()
        if st is None:
            raise FullbarsError(f"lab {lab.topo.name} is not up", fix=f"fullbars lab up {file}")
        results = push(plan_dir, st, progress=_progress())
    except FullbarsError as e:
        _fail(e)
    for r in results:
        text = "committed, read back" if r["ok"] else f"MISSING after commit: {r['missing']}"
        if r["dataplane"] != "applied":  # the committed config did not become the lab's data plane
            text += f"; data plane {r['dataplane']}"
        out.print(f"{r['node']:24} {text}", markup=False)
    if not all(r["ok"] and r["dataplane"] == "applied" for r in results):
        raise typer.Exit(1)


@lab_app.command("verify")
def lab_verify(plan_dir: Path = PlanDirArg, file: Path = LabFileArg,
               report: Optional[Path] = typer.Option(None, "--report", help="Also write the report as JSON here."),
               service: Optional[List[str]] = typer.Option(None, "--service", help="Check only these services."),
               db: Optional[str] = DbOpt):
    """Per service: address, reachability, iperf3 rates against the intent; recorded as lab evidence."""
    from orchestrator.lab import evidence
    from orchestrator.lab.verify import manifest, table, verify
    from orchestrator.plan.bundle import load
    from orchestrator.rollout.targets import lab_target

    try:
        bundle = load(plan_dir)
        manifest(plan_dir, service)  # an unknown --service is an error before the lab is touched
        store = _store("lab verify", db)
        tgt = lab_target(file)
        rep = verify(plan_dir, tgt.lab_state, progress=_progress(), only=service or None)
        rec = evidence.record(store, bundle, file, tgt, rep, service)
    except FullbarsError as e:
        _fail(e)
    if report:
        report.write_text(json.dumps(rep, indent=2) + "\n")
    out.print(table(rep), markup=False)
    for d in rec["checks"]["devices"]:
        out.print(f"{d['device']:24} running config {'= intended' if d['ok'] else 'DIFFERS from intended'} "
                  f"(canonical sha256 {d.get('running_sha256', d.get('error'))})", markup=False)
    out.print(f"verification {rec['id']} {'passed' if rec['ok'] else 'FAILED'}: bundle {rec['bundle_id']}, "
              f"pinned {rec['pinned']}, by {rec['by']}" + (" (--service: not evidence)" if service else ""), markup=False)
    if not rec["ok"] and not (service and rep["ok"]):
        raise typer.Exit(1)


@lab_app.command("watch", hidden=True)
def lab_watch(state_file: Path = typer.Argument(..., help="The lab's state file.")):
    """The lab's personality watcher (started by lab up)."""
    from orchestrator.lab.personality import watch

    watch(state_file)


def main() -> None:
    try:
        app()
    except FullbarsError as e:  # errors raised while importing a command's modules
        err.print(e.render(), markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()

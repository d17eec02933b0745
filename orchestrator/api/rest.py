"""/api: the use cases of orchestrator/app over JSON. Each route authenticates (deps.actor), then
calls one application function acting as that user; the function authorises."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, Field

from orchestrator.acting import Actor, acting
from orchestrator.api import login_limit
from orchestrator.api.deps import COOKIE, Context, actor, context, origin
from orchestrator.api.problems import responses
from orchestrator.app import audit, change_states, changes, environments, rollouts, services, users, wave_confirm
from orchestrator.errors import FullbarsError

router = APIRouter(prefix="/api")
SIGNED_IN = responses(401, 403, 422)
ON_CHANGE = responses(401, 403, 404, 409, 422)
ChangeId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The change request's number.")]
Name = Annotated[str, Path(max_length=64)]


def _encodable(text: str) -> str:
    # JSON may escape a lone surrogate (\ud800), which no UTF-8 file, database or page can hold
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"the text holds {ascii(text[e.start:e.end])[1:-1]} at character {e.start}, which is not "
                         "a Unicode character (a lone surrogate): send UTF-8 text") from None
    return text


Text = Annotated[str, AfterValidator(_encodable)]  # every string a request body carries
TERMINAL = {"done", "failed", "aborted", "rolled-back", "withdrawn"}
SSE_STEP = 0.5  # seconds between looks at a rollout's state
# A change can end (failed: nobody confirmed its wave) while its wave's devices still await their
# confirm timeout, after which they revert by themselves; the stream waits for that, for as long
# as the longest confirm timeout, so its last event is what GET .../rollout will say.
SETTLE_LIMIT = 3600 + 60  # seconds


class Login(BaseModel):
    name: Text = Field(max_length=64)
    password: Text = Field(max_length=1024)


class Token(BaseModel):
    token: str
    user: str


class Me(BaseModel):
    name: str
    roles: list[str]
    may: dict[str, bool]


class ServiceOut(BaseModel):
    name: str
    kind: str
    held: list[str]
    suspended: bool
    pending_removal: bool
    state: Literal[services.STATES]
    devices: dict[str, list[str]]  # environment → its devices holding a part of the service


class Services(BaseModel):
    services: list[ServiceOut]


class Submit(BaseModel):
    title: Text = Field(max_length=256)
    target: Text = Field(max_length=64, description="The environment to roll out to, e.g. production.")
    intents: dict[Text, Text] = Field(description="Intent file name (.yaml) → its YAML text; also a file an "
                                                  "intent reads beside it (.csv, .geojson: a coverage fill's "
                                                  "measurements) → its text.")


class ChangeOut(BaseModel):
    id: int
    title: str
    submitter: str
    target: str
    state: str
    bundle_id: str
    bundle_dir: str
    intents: list[str]
    verification_id: int | None
    approver: str
    error: str
    created_at: str
    updated_at: str


class DeviceWave(BaseModel):
    device: str
    state: str
    error: str
    strategy: str
    seconds: float | None


class Wave(BaseModel):
    wave: int
    tx: str
    state: str
    devices: list[DeviceWave]


class Awaiting(BaseModel):
    wave: int
    tx: str
    until: str = Field(description="UTC: after this the wave's devices revert by themselves.")


class Rollout(BaseModel):
    change: int
    state: str
    error: str
    waves: list[Wave]
    awaiting: Awaiting | None = Field(None, description="The wave that awaits a NOC operator's confirm, if any.")


class RolloutIn(BaseModel):
    confirm_each_wave: bool = Field(False, description="Each wave waits, after its confirmed commit, until a NOC "
                                    "operator confirms or rejects it (POST .../confirm, .../reject).")
    confirm_timeout: int = Field(120, ge=10, le=3600, description="Seconds each device waits for its confirming "
                                 "commit before it reverts by itself.")


class DevicePlan(BaseModel):
    device: str
    kind: str
    services: list[str]
    diff: str
    edit: str


class HeldBack(BaseModel):
    left_off: list[str]  # the plan's devices the service is kept off
    waits_for: list[str]  # its devices the plan does not reach
    plan: str  # what to plan with the change to carry it (an order's product: the order)


class Submitted(ChangeOut):
    # services planned earlier, never applied, that the change's plan leaves off devices it shares
    held_back: dict[str, HeldBack]


class ChangeDetail(ChangeOut):
    devices: list[DevicePlan]
    services: list[str]
    held_back: dict[str, HeldBack]
    evidence: dict | None
    rollout: Rollout
    allowed: list[str]


class Evidence(BaseModel):
    verification_id: int = Field(ge=1, le=2**31 - 1)


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    origin: str
    action: str
    subject: str
    detail: dict | list | str | int | float | bool | None


class EnvironmentOut(BaseModel):
    environment: str
    evidence: str
    description: str
    default: bool


class DeviceDriftOut(BaseModel):
    device: str
    kind: str | None = None
    in_sync: bool | None = Field(None, description="None: the device could not be read (see error)")
    differences: list = Field([], description="What the device runs otherwise than fullbars last gave it")
    pending_removal: list[str] = Field([], description="Services planned for removal the device still carries")
    error: str | None = None


class EnvironmentIn(BaseModel):
    evidence: Text | None = Field(None, description="required | optional")
    description: Text | None = Field(None, max_length=2000)


class SuspensionOut(BaseModel):
    line: str
    reason: str
    state: str
    policy: str
    due: str
    asked: str
    done: str
    tx: str


class UserIn(BaseModel):
    name: Text = Field(max_length=64)
    roles: list[Text]
    password: Text | None = Field(None, max_length=1024, description="For people; CI users get a token instead.")


class UserOut(BaseModel):
    name: str
    roles: list[str]
    disabled: bool


class TokenIn(BaseModel):
    label: Text = Field("", max_length=128)


def as_user(who: Actor, fn, *args, **kw):
    with acting(who):
        return fn(*args, **kw)


@router.post("/login", response_model=Token, responses=responses(401, 422, 429), tags=["identity"])
def login(body: Login, request: Request, response: Response, ctx: Context = Depends(context)):
    """Sign in with a password: a session token, also set as an HttpOnly, SameSite=Strict cookie.
    Failed attempts make the next ones for the user, or from the address, wait (429, Retry-After)."""
    token = login_limit.login(ctx.logins, ctx.store, body.name, body.password, origin(request))
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=users.SESSION_HOURS * 3600,
                        secure=request.url.scheme == "https")  # behind a trusted TLS proxy: never sent in clear
    return {"token": token, "user": body.name}


@router.get("/me", response_model=Me, responses=SIGNED_IN, tags=["identity"])
def me(who: Actor = Depends(actor)):
    return {"name": who.name, "roles": sorted(who.roles), "may": {a: users.may(who, a) for a in users.PERMISSIONS}}


@router.get("/services", response_model=Services, responses=SIGNED_IN, tags=["services"])
def list_services(who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return {"services": as_user(who, services.status, ctx.store)["services"]}


@router.get("/changes", response_model=list[ChangeOut], responses=SIGNED_IN, tags=["changes"])
def list_changes(who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return as_user(who, changes.listing, ctx.store)


@router.post("/changes", response_model=Submitted, status_code=201, responses=SIGNED_IN, tags=["changes"])
def submit(body: Submit, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """Plan the intents into a bundle for the target environment: a change request, state planned."""
    return as_user(who, changes.submit, ctx.store, ctx.workdir, body.title, body.intents, body.target, ctx.network_file)


def detail(ctx: Context, who: Actor, change_id: int) -> dict:
    from orchestrator.resources.store import ChangeRow

    with acting(who):
        d = changes.show(ctx.store, change_id)
        with ctx.store.transaction(write=False) as s:
            row = s.get(ChangeRow, change_id)
            d["allowed"] = sorted({e for (st, e) in change_states.TRANSITIONS if change_states.allowed(row, e, who)})
    return d


@router.get("/changes/{change_id}", response_model=ChangeDetail, responses=responses(401, 403, 404, 422),
            tags=["changes"])
def show(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """The change with its per-device plan (diff, NETCONF edit), lab evidence, rollout, and the
    events the asking user may cause now."""
    return detail(ctx, who, change_id)


@router.post("/changes/{change_id}/evidence", response_model=ChangeOut, responses=ON_CHANGE, tags=["changes"])
def attach(change_id: ChangeId, body: Evidence, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """CI: attach a lab verification (`fullbars lab verify` of the change's bundle_dir)."""
    return as_user(who, changes.attach_evidence, ctx.store, change_id, body.verification_id)


@router.post("/changes/{change_id}/approve", response_model=ChangeOut, responses=ON_CHANGE, tags=["changes"])
def approve(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """NOC: approve a verified change someone else submitted (four-eyes)."""
    return as_user(who, changes.approve, ctx.store, change_id)


@router.post("/changes/{change_id}/withdraw", response_model=ChangeOut, responses=ON_CHANGE, tags=["changes"])
def withdraw(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return as_user(who, changes.withdraw, ctx.store, change_id)


@router.post("/changes/{change_id}/rollout", response_model=ChangeOut, status_code=202, responses=ON_CHANGE,
             tags=["rollout"])
def rollout(change_id: ChangeId, body: RolloutIn | None = None, who: Actor = Depends(actor),
            ctx: Context = Depends(context)):
    """NOC: start the rollout of an approved change; it runs in the background (watch /events)."""
    body = body or RolloutIn()
    return as_user(who, rollouts.start, ctx.store, change_id, ctx.network, ctx.launch, body.confirm_timeout,
                   body.confirm_each_wave)


@router.post("/changes/{change_id}/confirm", response_model=ChangeOut, responses=ON_CHANGE, tags=["rollout"])
def confirm(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """NOC: confirm the wave that awaits it (a rollout started with confirm_each_wave): its confirming
    commit, then the next wave."""
    return as_user(who, wave_confirm.confirm, ctx.store, change_id)


@router.post("/changes/{change_id}/reject", response_model=ChangeOut, responses=ON_CHANGE, tags=["rollout"])
def reject(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """NOC: reject the wave that awaits its confirm: it rolls back, and the change fails."""
    return as_user(who, wave_confirm.reject, ctx.store, change_id)


@router.post("/changes/{change_id}/pause", response_model=ChangeOut, responses=ON_CHANGE, tags=["rollout"])
def pause(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """NOC: hold the rollout before its next wave."""
    return as_user(who, rollouts.pause, ctx.store, change_id)


@router.post("/changes/{change_id}/resume", response_model=ChangeOut, responses=ON_CHANGE, tags=["rollout"])
def resume(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return as_user(who, rollouts.resume, ctx.store, change_id)


@router.post("/changes/{change_id}/abort", response_model=ChangeOut, responses=ON_CHANGE, tags=["rollout"])
def abort(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """NOC: stop before the next wave; the waves done stay (roll back undoes them)."""
    return as_user(who, rollouts.abort, ctx.store, change_id)


@router.post("/changes/{change_id}/rollback", response_model=ChangeOut, responses=ON_CHANGE, tags=["rollout"])
def roll_back(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """NOC: undo the change's committed waves, newest first (409 while later changes are on its devices:
    roll those back first)."""
    return as_user(who, rollouts.roll_back, ctx.store, change_id, ctx.network)


@router.get("/changes/{change_id}/rollout", response_model=Rollout, responses=responses(401, 403, 404, 422),
            tags=["rollout"])
def rollout_state(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return as_user(who, rollouts.progress, ctx.store, change_id)


@router.get("/changes/{change_id}/events", responses={**responses(401, 403, 404, 422),
                                                      200: {"content": {"text/event-stream": {}},
                                                            "description": "progress events (JSON as in /rollout)"}},
            response_class=StreamingResponse, tags=["rollout"])
async def events(change_id: ChangeId, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """Server-sent events: `progress` with the rollout (as /rollout) whenever it changes, until it ends."""
    first = await run_in_threadpool(as_user, who, rollouts.progress, ctx.store, change_id)  # 404 before streaming

    async def stream():
        last, now, ended = None, first, None
        while True:
            text = json.dumps(now, sort_keys=True)
            if text != last:
                yield f"event: progress\ndata: {text}\n\n"
                last = text
            if now["state"] in TERMINAL:
                ended = ended or time.monotonic()
                if _settled(now) or time.monotonic() - ended > SETTLE_LIMIT:
                    yield "event: end\ndata: {}\n\n"
                    return
            await asyncio.sleep(SSE_STEP)
            now = await run_in_threadpool(as_user, who, rollouts.progress, ctx.store, change_id)
    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _settled(rollout: dict) -> bool:
    from orchestrator.rollout.journal import IN_FLIGHT

    return not any(w["state"] in (*IN_FLIGHT, "awaiting-confirm") for w in rollout["waves"])


@router.get("/audit", response_model=list[AuditOut], responses=SIGNED_IN, tags=["audit"])
def audit_trail(actor_name: str | None = Query(None, alias="actor", max_length=128),
                action: str | None = Query(None, max_length=64, description="a prefix: change- gives every step"),
                subject: str | None = Query(None, max_length=256, description="exactly, e.g. change:7"),
                since: str | None = Query(None, max_length=40, description="ISO 8601 time (UTC unless it gives an offset) or a day"),
                limit: int = Query(200, ge=1, le=audit.MAX_ROWS),
                who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return as_user(who, audit.listing, ctx.store, actor_name, action, subject, since, limit)


@router.get("/environments", response_model=list[EnvironmentOut], responses=SIGNED_IN, tags=["environments"])
def list_environments(who: Actor = Depends(actor), ctx: Context = Depends(context)):
    with acting(who):
        return [environments.describe(ctx.store, e) for e in environments.known(ctx.store)]


@router.get("/environments/{name}/drift", response_model=list[DeviceDriftOut], responses=responses(401, 403, 404, 422),
            tags=["environments"])
def environment_drift(name: Name, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """Per device of env:NAME: whether it runs what fullbars last gave it there, and where not, the
    differences (each device is read, as `fullbars drift` reads it)."""
    with acting(who):
        return environments.drift(ctx.store, f"env:{name}", ctx.network)


@router.put("/environments/{name}", response_model=EnvironmentOut, responses=SIGNED_IN, tags=["environments"])
def set_environment(name: Name, body: EnvironmentIn, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """Admin: whether applying to env:NAME needs lab evidence, and its description."""
    if name == "lab" or name.startswith("lab:"):
        # A lab's environment is named by a topology file on this machine: no change the server
        # takes can target one (submit wants a name), and the drift page would open the file.
        raise FullbarsError(f"{name!r} is no environment's name here: the server's changes target named "
                            "environments, never a lab", path="name",
                            fix="the name a change targets (lower-case letters, digits, '-'), e.g. production")
    return as_user(who, environments.describe, ctx.store, name if name.startswith("env:") else f"env:{name}",
                   body.evidence, body.description)


@router.get("/suspensions", response_model=list[SuspensionOut], responses=SIGNED_IN, tags=["services"])
def list_suspensions(who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return as_user(who, environments.suspensions, ctx.store)


@router.get("/users", response_model=list[UserOut], responses=SIGNED_IN, tags=["identity"])
def list_users(who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return as_user(who, users.listing, ctx.store)


@router.post("/users", response_model=UserOut, status_code=201, responses=responses(401, 403, 409, 422),
             tags=["identity"])
def create_user(body: UserIn, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    return as_user(who, users.create, ctx.store, body.name, body.roles, body.password)


@router.post("/users/{name}/tokens", response_model=Token, status_code=201, responses=responses(401, 403, 404, 422),
             tags=["identity"])
def create_token(name: Name, body: TokenIn, who: Actor = Depends(actor), ctx: Context = Depends(context)):
    """Admin: an API token for a user (CI); shown once, kept only as its hash."""
    return {"token": as_user(who, users.create_token, ctx.store, name, body.label), "user": name}

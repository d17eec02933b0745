"""A change request's rollout (orchestrator/app/rollouts.py) as a durable workflow: each wave a
step, then the finish a step. The server starts it in-process through the app's launch seam; if
the server dies, whoever watches its heartbeat (the server started again, or `fullbars worker`)
recovers it. A wave step is idempotent against the journal as the bulk rollout's is
(workflows.settle_earlier): its transaction id is derived from the workflow and the wave, so a
recovered step first has recover finish or undo what the dead process left, and never applies a
wave whose transaction was committed."""

from __future__ import annotations

from dbos import DBOS

from orchestrator.engine.workflows import _store, settle_earlier, tx_prefix


def _network(job: dict):
    from orchestrator.app.rollouts import stored_network

    return lambda: stored_network(_store(), job.get("network_file"))


@DBOS.step(name="fullbars.change.waves")
def waves_step(job: dict) -> list[int]:
    from orchestrator.app.rollouts import plan_waves

    return list(plan_waves(_store(), job["change"]))


@DBOS.step(name="fullbars.change.wave")
def wave_step(job: dict, wave: int, workflow_id: str) -> str:
    """"committed", or the change's state when the wave did not commit."""
    from orchestrator.acting import acting
    from orchestrator.app import rollouts
    from orchestrator.rollout.journal import IN_DOUBT

    store, change = _store(), job["change"]
    with acting(rollouts.job_actor(job)):
        try:
            target = rollouts.change_target(store, change, _network(job))
            earlier, done, stuck = settle_earlier(store, target, tx_prefix(workflow_id, wave))
        except Exception as e:  # noqa: BLE001 - the change must end in a state an operator sees
            return rollouts.fail_on(store, change, e)
        if done:  # the devices have it (a process died after committing): never apply it twice
            rollouts.wave_done(store, change, wave, done[0].id, rollouts.plan_waves(store, change)[wave],
                               {"outcome": "committed", "recovered": True})
            return "committed"
        if stuck:
            return rollouts.end_rollout(store, change, "fail", {
                "wave": wave, "tx": stuck[0].id, "error": f"{stuck[0].id} is still unfinished after recover "
                f"(a device {IN_DOUBT}): nothing more was sent; run fullbars recover once its devices answer"})
        return rollouts.run_wave(store, change, wave, _network(job), job["confirm_timeout"],
                                 f"{tx_prefix(workflow_id, wave)}{len(earlier) + 1}", job.get("confirm_waves", False))


@DBOS.step(name="fullbars.change.finish")
def finish_step(job: dict) -> str:
    from orchestrator.acting import acting
    from orchestrator.app import rollouts

    with acting(rollouts.job_actor(job)):
        return rollouts.finish(_store(), job["change"], _network(job))


@DBOS.workflow(name="fullbars.change.rollout")
def change_rollout(job: dict) -> str:
    """job: as app.rollouts.start makes it, and network_file (None: the store's description).
    The change's final state."""
    for wave in waves_step(job):
        outcome = wave_step(job, wave, DBOS.workflow_id)
        if outcome != "committed":
            return outcome
    return finish_step(job)

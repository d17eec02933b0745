"""The CoverageFill kind's own parts: reading measured points, planning the fill over the radio
network on air (with orchestrator.radio), and the before/after report and map."""

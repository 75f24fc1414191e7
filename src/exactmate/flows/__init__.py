"""Flows: the actions run unattended, chained, with a run history (see docs/flows.md).

A flow file (YAML) names a trigger and steps; ``load_flow`` checks all of it before anything runs,
and ``FlowEngine`` runs flows as durable DBOS workflows.
"""

from __future__ import annotations

from exactmate.flows.definition import Flow, FlowError, Step, Trigger, load_flow

__all__ = ["Flow", "FlowError", "Step", "Trigger", "load_flow"]

"""The dashboard's parts, built once at the app's start (never inside a request)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from heatlink.cluster.index import ClusterIndex
from services.dashboard.alert_states import ActiveAlertStates, MaintenanceStates
from services.dashboard.own import OwnView
from services.dashboard.state import LatestValueStates, PlannedFirst, StateProvider, WorstOf
from services.dashboard.view import ClusterView


@dataclass
class Dashboard:
    view: ClusterView
    own: OwnView
    # Latest values and active alerts, with announced maintenance overriding both.
    states: StateProvider
    # When each (organisation, series) read was last written to the access log.
    logged: dict[tuple[str, str], float] = field(default_factory=dict)


def build_dashboard(pool: asyncpg.Pool, index: ClusterIndex) -> Dashboard:
    return Dashboard(
        view=ClusterView(index), own=OwnView(index),
        states=PlannedFirst(MaintenanceStates(pool, index),
                            WorstOf([LatestValueStates(index), ActiveAlertStates(pool, index)])))

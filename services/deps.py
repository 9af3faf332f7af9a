"""How routers receive the parts `create_app` started: typed dependencies, bound once.

A domain declares the part its routes need as a `Part[T]` (a FastAPI dependency, used as
``Annotated[T, Depends(the_part)]``); `services/runtimes.py` binds every part from the
started `Runtimes` in one place. `app.state` holds one thing, the `Bound` parts, and only
this module reads it. Routes never look a part up by name, and a test app binds what its
router needs (`install_parts`) or overrides the dependency.

The shared parts (settings, clock, pool, …) are declared here; a domain's own runtime next
to its router (a central module naming every domain would import them all, and each domain
imports this one: a circle).

This module does not use ``from __future__ import annotations``: FastAPI reads the
signature of `Part.__call__` at run time, and an instance has no module globals to resolve
string annotations with.
"""

from typing import Annotated, Any, Generic, TypeVar, cast

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Request, status

from heatlink.clock import Clock
from heatlink.cluster.index import ClusterIndex
from services.metrics import ServiceMetrics
from services.settings import Settings
from services.storage.health import StorageHealth
from services.storage.timescale import TimeSeriesFeatures

T = TypeVar("T")


class Part(Generic[T]):
    """One started part of the service, as a dependency: ``Depends(part)`` gives the value
    bound to it. Before the app has started (no lifespan ran) it answers 503, never a 500."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Part({self.name!r})"

    def __call__(self, request: Request) -> T:
        return bound_parts(request.app).get(self)


class Bound:
    """The values bound to parts, for one app. Typed on the way in (`bind`) and out."""

    def __init__(self) -> None:
        self._values: dict[Part[Any], object] = {}

    def bind(self, part: Part[T], value: T) -> None:
        self._values[part] = value

    def get(self, part: Part[T]) -> T:
        try:
            return cast(T, self._values[part])
        except KeyError:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                f"the service has not started its {part.name}; "
                                "try again shortly") from None


def install_parts(app: FastAPI) -> Bound:
    """Give the app its (empty) bound parts: `create_app` does, before the lifespan binds
    them; a test app that mounts one router binds the parts it needs."""
    bound = app.state.parts = Bound()
    return bound


def bound_parts(app: FastAPI) -> Bound:
    return cast(Bound, app.state.parts)


settings = Part[Settings]("settings")
clock = Part[Clock]("clock")
pool = Part[asyncpg.Pool]("database pool")
features = Part[TimeSeriesFeatures]("storage features")
index = Part[ClusterIndex]("cluster index")
metrics = Part[ServiceMetrics]("metrics")
storage = Part[StorageHealth]("storage health")

# What a route declares: ``pool: PoolDep``.
SettingsDep = Annotated[Settings, Depends(settings)]
ClockDep = Annotated[Clock, Depends(clock)]
PoolDep = Annotated[asyncpg.Pool, Depends(pool)]
FeaturesDep = Annotated[TimeSeriesFeatures, Depends(features)]
IndexDep = Annotated[ClusterIndex, Depends(index)]
MetricsDep = Annotated[ServiceMetrics, Depends(metrics)]
StorageDep = Annotated[StorageHealth, Depends(storage)]

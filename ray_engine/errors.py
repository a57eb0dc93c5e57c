"""Errors of the Ray engine: the cluster, not the essays or the models.

Hierarchy::

    HemmaClientError (client.errors)
    └── RayClusterError        the cluster cannot be joined: nothing listens, no cluster
        │                      found, a token it refuses, Ray Client asked for, no node
        │                      of it on this host, no answer within --ray-connect-timeout
        └── ClusterLostError   the head (GCS) or this driver's own Ray node stopped
                               answering mid-run; what arrived is in the cache

Both are the CLI's one-line errors (exit status 2). What the actors raise (a model that
does not load on a host, another fingerprint, a bad row) stays the engine's or the
contract's own error (``ray_engine.translate.translated``).
"""

from __future__ import annotations

from hemma_features.client.errors import HemmaClientError


class RayClusterError(HemmaClientError):
    """The Ray cluster cannot be used; the message names the address and what to do."""


class ClusterLostError(RayClusterError):
    """The cluster stopped answering mid-run; the rows that arrived are in the cache."""

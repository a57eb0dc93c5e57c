"""Where each Flight call goes: one rule for every client path.

When the user gave a Flight location (``--flight`` / ``HEMMA_FLIGHT_URL`` / ``flight=``),
every Flight call goes there, whatever the server advertises: behind an SSH tunnel the
advertised addresses are the server's view, not the laptop's. When the user gave none,
the advertised location is used (``/v1/config``, or an endpoint of ``get_flight_info``),
with a wildcard host (0.0.0.0, ::) replaced by the host the user reached the HTTP plane on.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pyarrow.flight as fl

from hemma_features.contract import ServerConfig
from hemma_features.contract.locations import flight_url_beside, is_wildcard, with_host


class Route:
    """A Flight location and, when the user did not type it, where it came from."""

    def __init__(self, location: str, origin: str | None) -> None:
        self.location = location
        self.origin = origin

    def hint(self) -> str | None:
        """What to do when this location cannot be reached (None: the user typed it)."""
        if self.origin is None:
            return None
        return (
            f"{self.location} is {self.origin}, and no --flight was given: that address is "
            "the server's view. Behind an SSH tunnel pass the local end of the Flight "
            "forward, e.g. --flight grpc://127.0.0.1:19001 (or set HEMMA_FLIGHT_URL)."
        )


class FlightRoutes:
    """Routes Flight calls for one client.

    Args:
        server_url: The control-plane URL the user gave.
        override: The Flight location the user gave, or None.
    """

    def __init__(self, server_url: str, override: str | None) -> None:
        self.server_url = server_url
        self.override = override
        self._http_host = urlsplit(server_url).hostname or "127.0.0.1"

    def main(self, config: ServerConfig) -> Route:
        """Where the data plane is reached from here."""
        if self.override:
            return Route(self.override, None)
        if config.flight_location:
            return Route(self._dialable(config.flight_location), "advertised on /v1/config")
        return Route(
            flight_url_beside(self.server_url, config.flight_port),
            "the --server host with the Flight port advertised on /v1/config",
        )

    def endpoint(self, endpoint: fl.FlightEndpoint, main: Route) -> Route:
        """Where one ``get_flight_info`` endpoint's ticket is redeemed."""
        if self.override or not endpoint.locations:
            return main  # no location: redeem where the flight info came from
        location = endpoint.locations[0].uri.decode()
        return Route(self._dialable(location), "named by a get_flight_info endpoint")

    def _dialable(self, location: str) -> str:
        return with_host(location, self._http_host) if is_wildcard(location) else location

"""The HTTP layer: httpx under ``/api/v1``, JSON in and out, the session's bearer token, and
every error answer turned into an :class:`~plumbline.errors.ApiError` carrying the server's
``code`` and ``message``."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Mapping, Optional, Union

import httpx

from . import __version__
from .errors import InputError, TransportError, api_error

#: Query values as the API takes them.
Params = Mapping[str, Union[str, int, float, bool, None]]


def api_base(url: str) -> str:
    """The API's base URL from a server URL (``http://host:port``, with or without
    ``/api/v1``)."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"the server URL must start with http:// or https://, got {url!r}")
    if url.endswith("/api/v1"):
        url = url[: -len("/api/v1")]
    return url + "/api/v1"


class Http:
    """One connection pool to one server. ``session`` is called for a bearer token on requests
    that need one; on a 401 it is called again with ``renew=True`` and the request sent once
    more (sessions expire after a day)."""

    def __init__(self, url: str, *, timeout: float = 30.0, transport: Optional[httpx.BaseTransport] = None):
        self.base = api_base(url)
        self.server_url = self.base[: -len("/api/v1")]
        self._client = httpx.Client(
            base_url=self.base,
            timeout=timeout,
            headers={"user-agent": f"plumbline-python/{__version__}"},
            transport=transport,
        )
        self.session: Optional[Callable[[bool], str]] = None

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: Optional[Union[str, bytes]] = None,
        content_type: Optional[str] = None,
        params: Optional[Params] = None,
        auth: bool = False,
        timeout: Optional[float] = None,
    ) -> httpx.Response:
        """Sends a request and answers the response, raising ``ApiError`` for an error answer.
        A ``stale`` answer (another replica moved the state) is retried up to three times."""
        headers: dict[str, str] = {}
        body: Optional[bytes] = None
        if json_body is not None:
            headers["content-type"] = "application/json"
            body = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
        elif content is not None:
            headers["content-type"] = content_type or "text/plain"
            body = content.encode("utf-8") if isinstance(content, str) else content
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            if auth:
                if self.session is None:
                    raise InputError(f"{method} {path} needs a session: this client has no key to sign in with")
                headers["authorization"] = f"Bearer {self.session(renewed)}"
            try:
                response = self._client.request(
                    method,
                    path,
                    content=body,
                    headers=headers,
                    params=query,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TimeoutException as error:
                raise TransportError(f"{method} {self.base}{path}: no answer in time ({error})") from error
            except httpx.TransportError as error:
                raise TransportError(f"{method} {self.base}{path}: cannot reach the server ({error})") from error
            if response.is_success:
                return response
            code, message = _error_of(response)
            if response.status_code == 401 and auth and not renewed:
                renewed = True
                continue
            if code == "stale" and attempt < 4:
                time.sleep(0.05 * attempt)
                continue
            raise api_error(response.status_code, code, message, method, path)

    def get(self, path: str, *, params: Optional[Params] = None, auth: bool = False) -> Any:
        return self.request("GET", path, params=params, auth=auth).json()

    def post(self, path: str, body: Any = None, *, auth: bool = False) -> Any:
        response = self.request("POST", path, json_body=body, auth=auth)
        return response.json() if response.content else None


def _query_value(value: Union[str, int, float, bool]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The ``code`` and ``message`` of an error answer; a body that is not the API's JSON
    (a proxy's page, say) becomes code ``http`` with the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return body["code"], str(body.get("message", ""))
    text = response.text.strip()
    detail = f": {text[:200]}" if text else ""
    return "http", f"the server answered {response.status_code} {response.reason_phrase}{detail}"

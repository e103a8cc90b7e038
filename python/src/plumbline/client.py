"""``Client(url, key)``: one account on one Plumbline server. It signs in when a request needs a
session (and again when the session ends), reads balances, draws test credits from the faucet,
and creates and finds experiments."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address

from .auth import KeyLike, Session, SessionKeeper, load_key
from .errors import Conflict, InputError, PlumblineError
from .http import Http
from .spec import SpecLike, resolve_spec

if TYPE_CHECKING:
    from .experiment import Experiment
    from .labeler import Labeler

#: Where the server is when neither ``url`` nor ``$PLUMBLINE_SERVER`` says (as the CLI).
DEFAULT_SERVER = "http://127.0.0.1:8080"


class Environment(enum.Enum):
    """The default of ``key``: read it from the environment as the CLI does."""

    KEY = "environment"


def key_from_environment() -> Optional[LocalAccount]:
    """The key of ``$PLUMBLINE_KEY`` (a hex secret) or ``$PLUMBLINE_KEY_FILE`` (a key file),
    as the ``plumbline`` CLI reads them, or None when neither is set."""
    for name in ("PLUMBLINE_KEY", "PLUMBLINE_KEY_FILE"):
        value = os.environ.get(name)
        if value:
            try:
                return load_key(value)
            except PlumblineError as error:
                raise InputError(f"{name}: {error}") from None
    return None


#: An experiment as the methods that act on one take it: an :class:`Experiment`, its id, or
#: its ``EXPERIMENT`` JSON.
ExperimentRef = Union["Experiment", str, Mapping[str, Any]]


@dataclass(frozen=True)
class Balance:
    """An account's credits (integer base units) and its reputation record (None before its
    first settled experiment)."""

    address: str
    available: int
    locked: int
    reputation: Optional[dict[str, Any]]

    @property
    def total(self) -> int:
        return self.available + self.locked


class Client:
    """A connection to a Plumbline server as one account.

    ``url`` is the server (by default ``$PLUMBLINE_SERVER``, else ``http://127.0.0.1:8080``);
    ``key`` a hex private key, a key file's path or an eth-account account (by default
    ``$PLUMBLINE_KEY`` or ``$PLUMBLINE_KEY_FILE``, as the CLI reads them; None for reading
    public data only). ``timeout`` is in seconds; ``sign_in_domain`` the host the server's
    sign-in message must name, when a proxy serves it under another name than ``url``'s."""

    def __init__(
        self,
        url: Optional[str] = None,
        key: Union[KeyLike, None, Environment] = Environment.KEY,
        *,
        timeout: float = 60.0,
        sign_in_domain: Optional[str] = None,
    ):
        self._http = Http(url or os.environ.get("PLUMBLINE_SERVER") or DEFAULT_SERVER, timeout=timeout)
        self._options: dict[str, Any] = {"timeout": timeout, "sign_in_domain": sign_in_domain}
        if isinstance(key, Environment):
            self._account = key_from_environment()
        else:
            self._account = load_key(key) if key is not None else None
        self._sessions: Optional[SessionKeeper] = None
        if self._account is not None:
            self._sessions = SessionKeeper(self._http, self._account, sign_in_domain)
            self._http.session = self._sessions.token

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, address={self._account.address if self._account else None})"

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection pool."""
        self._http.close()

    @property
    def url(self) -> str:
        """The server's URL."""
        return self._http.server_url

    @property
    def address(self) -> str:
        """This client's address (EIP-55 checksummed)."""
        return self._key().address

    def _key(self) -> LocalAccount:
        if self._account is None:
            raise InputError("this client has no key: give Client(url, key) one to sign in, create or label")
        return self._account

    # -- sessions --------------------------------------------------------------------------

    def sign_in(self) -> Session:
        """Signs in now (requests that need a session do it themselves) and answers the
        session."""
        self._key()
        assert self._sessions is not None
        self._sessions.token(renew=True)
        assert self._sessions.session is not None
        return self._sessions.session

    def sign_out(self) -> None:
        """Ends the session on the server; the next request that needs one signs in again."""
        if self._sessions is not None and self._sessions.session is not None:
            self._http.post("/auth/logout", auth=True)
            self._sessions.session = None

    # -- the server and accounts -----------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``{"status", "ledger_balanced", "ledger_checked_at", "journal_entries", "version",
        "now"}``: the verdict of the server's last full ledger check and when it ran (``now``:
        the server's clock, which deadlines are measured by)."""
        result: dict[str, Any] = self._http.get("/health")
        return result

    def server_version(self) -> str:
        """The server's version, which this package's version follows."""
        return str(self.health()["version"])

    def openapi(self) -> dict[str, Any]:
        """The server's OpenAPI document."""
        result: dict[str, Any] = self._http.get("/openapi.json")
        return result

    def balance(self, address: Optional[str] = None) -> Balance:
        """The credits of ``address`` (by default this client's): ``available`` to stake or
        fund with, ``locked`` in stakes and escrows not yet paid out."""
        answer = self._http.get(f"/accounts/{address or self.address}")
        return Balance(str(answer["address"]), int(answer["available"]), int(answer["locked"]), answer.get("reputation"))

    def faucet_amount(self) -> Optional[int]:
        """What the server's testing faucet tops accounts up to, or None without a faucet."""
        amount = self._http.get("/ledger/faucet")["amount"]
        return None if amount is None else int(amount)

    def faucet(self) -> int:
        """Tops this account's available credits up to the faucet's amount (where the operator
        runs one: ``serve --faucet`` or ``--demo``) and answers the available credits. An account
        that already holds that much is left as it is. Raises :class:`~plumbline.NotFound` when the
        server has no faucet."""
        try:
            answer = self._http.post("/ledger/faucet", auth=True)
        except Conflict as error:
            if error.code != "enough":
                raise
            return self.balance().available
        return int(answer["available"])

    def mint(self, to: str, amount: int) -> int:
        """Issues credits to ``to`` (the operator only, embedded ledger) and answers its
        available credits."""
        if not is_address(to):
            # The server would refuse it too, but in the words of its JSON decoder.
            raise InputError(f"mint credits to an address (0x and 40 hex digits), not {to!r}")
        answer = self._http.post("/ledger/mint", {"to": to, "amount": str(int(amount))}, auth=True)
        return int(answer["available"])

    def sealing_key(self) -> Optional[str]:
        """The key reveals may be sealed to at commit (``0x`` and 33 bytes), or None."""
        key = self._http.get("/sealing-key")["public_key"]
        return None if key is None else str(key)

    def set_clock(self, now: int) -> int:
        """Sets a test server's clock (``serve --test-clock`` only; never backwards)."""
        return int(self._http.post("/test/clock", {"now": int(now)})["now"])

    # -- experiments -----------------------------------------------------------------------

    def create_experiment(self, spec: Optional[SpecLike] = None, **fields: Any) -> "Experiment":
        """Creates a draft experiment with this client as its creator, from a spec dict, the
        path of a TOML or JSON spec file, or keyword arguments (see
        :func:`plumbline.spec.build_spec`; given beside a dict or file they override its fields).
        Durations: ``commit_within="3d", reveal_within="1d"`` fix the deadlines when it opens."""
        from .experiment import Experiment

        document = resolve_spec(spec, **fields)
        info = self._http.post("/experiments", {"spec": document}, auth=True)
        return Experiment(self, info)

    def experiment(self, experiment_id: str) -> "Experiment":
        """An experiment by its id."""
        from .experiment import Experiment

        return Experiment(self, self._http.get(f"/experiments/{experiment_id}"))

    def experiments(
        self,
        *,
        phase: Union[str, Sequence[str], None] = None,
        creator: Optional[str] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> list["Experiment"]:
        """Experiments, newest first: filtered by ``phase`` (one or several of draft, open,
        revealing, settled, cancelled) and ``creator``, paged by ``limit`` (up to 500) and
        ``offset``."""
        from .experiment import Experiment

        phases = phase if phase is None or isinstance(phase, str) else ",".join(phase)
        params = {"phase": phases, "creator": creator, "limit": limit, "offset": offset}
        return [Experiment(self, info) for info in self._http.get("/experiments", params=params)]

    def labeler(self, key: Optional[KeyLike] = None) -> "Labeler":
        """A :class:`~plumbline.Labeler` on the same server, with ``key`` (by default this
        client's)."""
        from .labeler import Labeler

        return Labeler(self.url, key if key is not None else self._key(), **self._options)

"""Plumbline's Python client: create labeling experiments, label them programmatically, and
take the settled results as pandas DataFrames and Hugging Face datasets.

    import plumbline
    client = plumbline.Client("http://127.0.0.1:8080", key)
    experiment = client.create_experiment("spec.toml")

See ``docs/python.md`` in the repository for the whole API and a worked example.
"""

__version__ = "0.1.0"

from .auth import Session, load_key, new_key, write_key_file
from .client import Balance, Client
from .errors import (
    ApiError,
    AuditError,
    BadRequest,
    Conflict,
    Forbidden,
    InputError,
    Invalid,
    NotFound,
    PayloadTooLarge,
    PlumblineError,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    WaitTimeout,
)
from .experiment import Experiment, Progress
from .labeler import Batch, Labeler, Task
from .results import Export, audit_record, find_binary
from .spec import build_spec, duration, read_spec_file
from .tasks import task_rows

__all__ = [
    "__version__",
    "ApiError",
    "AuditError",
    "BadRequest",
    "Balance",
    "Batch",
    "Client",
    "Conflict",
    "Experiment",
    "Export",
    "Forbidden",
    "InputError",
    "Invalid",
    "Labeler",
    "NotFound",
    "PayloadTooLarge",
    "PlumblineError",
    "Progress",
    "RateLimited",
    "ServerError",
    "Session",
    "Task",
    "TransportError",
    "Unauthorized",
    "WaitTimeout",
    "audit_record",
    "build_spec",
    "duration",
    "find_binary",
    "load_key",
    "new_key",
    "read_spec_file",
    "task_rows",
    "write_key_file",
]

"""Error types shared by gpu_ops modules."""


class InputError(ValueError):
    """A user-facing input problem (bad config value, missing file, malformed request)."""


class BackendError(RuntimeError):
    """A model backend failed (server down, repeated HTTP errors, malformed replies)."""

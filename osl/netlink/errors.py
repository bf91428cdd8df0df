"""The codec's one exception."""


class DecodeError(ValueError):
    """Bytes that are not a well-formed netlink message (or attribute) of the kind expected."""

"""Finishing what destroyed sandboxes and dead processes left behind: :func:`gc`.

In the host, the records of removals that a dead process had moved there but not cleared
(:func:`_recover_host`); then the keys, as :func:`osl.keys.gc` does.  Importable as
``osl.gc`` and ``osl.sandbox.gc`` too.
"""

from __future__ import annotations

import warnings

from osl import netns as _netns
from osl import record as _record
from osl.netlink import NetlinkError
from osl.netlink import requests as R
from osl.netlink.client import Client
from osl.plumbing import has_link
from osl.values import RecordWarning

__all__ = ["gc"]


def gc() -> list[str]:
    """Remove the keys of destroyed sandboxes now, and empty keys a create that never
    mounted left behind; finish removals that a dead process left in the host (their
    record cleared). Returns the keys still pending."""
    try:
        with Client() as host:
            _recover_host(host)
    except OSError as e:
        warnings.warn(f"gc: the host's interfaces were not checked: {e}", RecordWarning, 2)
    return _netns.gc()


def _recover_host(host: Client) -> None:
    """Clear the records of removals that a dead process moved to the host but did not
    finish, naming each link as it was in the host."""
    for link in host.links():
        alias = link.get("ifalias")
        if not _record.is_ours(alias):
            continue
        try:
            rec = _record.parse(alias)
        except ValueError:
            continue  # not a record of ours to judge in the host
        if rec.op is None or _record.alive(rec.pid):
            continue
        name = link.get("ifname")
        try:
            rename = rec.src if name != rec.src and not has_link(host, rec.src) else None
            host.request(R.set_link(link.index, name=rename, alias=""), f"finish removing {name}")
        except NetlinkError as e:  # the others are still worth settling
            warnings.warn(f"gc: {e}", RecordWarning, 3)

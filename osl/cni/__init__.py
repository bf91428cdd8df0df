"""osl's CNI plugin, ``osl-cni`` (``python3 -m osl.cni``): bridge mode, a drop-in for the
reference ``bridge`` plugin, on osl's netlink client. See ``osl.cni.plugin``."""

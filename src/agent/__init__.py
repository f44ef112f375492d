"""Overcast hypervisor agent: drives one host's libvirt for the controller."""

__version__ = "0.1.0"

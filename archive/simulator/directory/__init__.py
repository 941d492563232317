"""The simulated company's directory on WeCom's side: 通讯录, customers by member, internal
groups and robots (spec §6.5, §6.7, §6.7a), served over the handover world's state."""

from archive.simulator.directory.world import DirectoryFaults, DirectoryWorld

__all__ = ["DirectoryFaults", "DirectoryWorld"]

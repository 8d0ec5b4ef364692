"""The reference Pitchey real-time service (PROTOCOL.md Part A, and Part B as a profile)."""

from __future__ import annotations

from ..demo import DEMO_USERS
from .app import PitcheyServer, ReferenceServer
from .profile import DEFECTS, FEATURES, PROFILE_NAMES, Defect, Knobs, Profile, make_profile

__all__ = [
    "DEFECTS",
    "DEMO_USERS",
    "FEATURES",
    "Defect",
    "PROFILE_NAMES",
    "Knobs",
    "PitcheyServer",
    "Profile",
    "ReferenceServer",
    "make_profile",
]

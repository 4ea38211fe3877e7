"""Reads of segments. Every function takes the organization first."""

from connext.models import Organization
from segments.models import Segment


def segment_of(org: Organization, pk) -> Segment | None:
    """The organization's segment `pk`, or None (another organization's is None too)."""
    if not isinstance(pk, int) or pk < 1 or pk >= 2**63:
        return None
    return Segment.objects.filter(organization=org, pk=pk).first()

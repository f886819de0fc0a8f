"""Signed, versioned artifacts (galleries and models) on disk, and the revocation of galleries after a deletion."""

"""FaceFleet: edge face recognition with central sync."""

__version__ = "0.1.0"

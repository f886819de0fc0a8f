"""Recognition on the hub for thin cameras: JPEG frames in over a WebSocket, faces and track events out."""

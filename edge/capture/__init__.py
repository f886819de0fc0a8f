"""Cameras (USB, CSI, RTSP, video files) through one GStreamer pipeline builder, and the frame record
they hand to the frame loop."""

"""Face detection: MTCNN (P/R/O-Net, 5 landmarks), its image pyramid, boxes and NMS, detection in
regions around known faces, the motion test and the detection schedule."""

"""Video stage: frames, optical flow, warping, consistency weights, the temporally coherent pipeline, metrics."""

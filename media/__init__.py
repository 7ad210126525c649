"""Media I/O and geometry without TensorFlow.

Images, videos, encoding with audio, optical flow, ``.flo`` files, warping, consistency, schedules, metrics.
Imports only :mod:`foundation`.
"""

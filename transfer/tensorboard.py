"""TensorBoard scalars with TensorFlow's own summary op (the tensorboard package is needed to view logs, not to
write them). Shared by the training runs of :mod:`transfer.fast` and :mod:`transfer.arbitrary`."""

from __future__ import annotations

import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def scalar(tag: str, value: float, step: int) -> None:
    """Write one scalar ``tag = value`` at ``step`` to the default summary writer."""
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=metadata.SerializeToString())

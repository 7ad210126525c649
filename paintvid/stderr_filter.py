"""Drop native libraries' log lines (TensorFlow/absl banners, libpng) from the process's stderr, keep the rest.

TensorFlow 2.21 writes its start-up lines ("oneDNN custom operations are on", "Could not find cuda drivers",
"failed call to cuInit") from C++ through absl before absl is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot
silence them. While a :class:`NativeStderrFilter` is active, file descriptor 2 is a pipe read by a thread that
drops lines matching :data:`DROP` and forwards everything else; Python's own ``sys.stderr`` (tqdm bars, our
errors, warnings) writes to the real stderr directly, so progress bars stay live.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading

#: Lines a user never needs (``--verbose`` shows them): absl/glog-style records of TensorFlow's C++ code,
#: absl's own preamble, TensorFlow's older timestamped records, and libpng's, libav's (``[mjpeg @ 0x...]``) and
#: OpenCV's (``[ WARN:0@1.5]``) complaints about a file that we then reject, or warn about, in our own one line.
DROP = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] "
    rb"|libpng (?:error|warning): "
    rb"|\[[\w:.-]+ @ 0x[0-9a-f]+\] "
    rb"|\[ ?(?:WARN|INFO|DEBUG)(?::\d+)?@[\d.]+\] )"
)


class NativeStderrFilter:
    """Context manager: route fd 2 through the line filter, and ``sys.stderr`` straight to the real stderr."""

    def __enter__(self) -> NativeStderrFilter:
        sys.stderr.flush()
        self._saved_fd = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._saved_stream = sys.stderr
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(self._saved_fd), "wb", buffering=0),
                                      encoding=getattr(self._saved_stream, "encoding", None) or "utf-8",
                                      errors="backslashreplace", line_buffering=True, write_through=True)
        self._thread = threading.Thread(target=_forward, args=(read_fd, self._saved_fd), daemon=True,
                                        name="stderr-filter")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        replacement, sys.stderr = sys.stderr, self._saved_stream
        os.dup2(self._saved_fd, 2)  # closes the pipe's last writer: the thread sees EOF
        self._thread.join(timeout=5)
        replacement.close()
        os.close(self._saved_fd)


def _forward(read_fd: int, out_fd: int) -> None:
    """Copy whole lines from ``read_fd`` to ``out_fd``, dropping the ones :data:`DROP` matches, until EOF."""
    pending = b""
    with os.fdopen(read_fd, "rb", buffering=0) as src:
        while chunk := src.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not DROP.match(line))
            _write_all(out_fd, kept)
    if not DROP.match(pending):
        _write_all(out_fd, pending)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]

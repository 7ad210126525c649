"""Tests of fast mode (transfer.fast)."""

"""Tests of linkname."""

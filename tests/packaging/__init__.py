"""Tests of the packages scripts/package builds (wheel, sdist, zipapp, .deb)."""

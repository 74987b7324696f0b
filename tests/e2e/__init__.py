"""End-to-end tests: a real Home Assistant and real peers on a bridged link."""

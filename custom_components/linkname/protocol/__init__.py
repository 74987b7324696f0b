"""linkname/1 protocol core: stdlib only, sans-I/O, no Home Assistant imports."""

__version__ = "0.1.0"

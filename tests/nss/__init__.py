"""Tests of the NSS module (nss/): its own C tests, fuzzing, a real link."""

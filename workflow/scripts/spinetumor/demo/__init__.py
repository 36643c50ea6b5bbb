"""The embedded synthetic demo dataset (seeded): subject parameters, anatomy, acquisition, writer."""

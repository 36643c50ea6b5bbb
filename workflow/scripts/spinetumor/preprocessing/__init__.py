"""Preprocessing chains (reorientation, resampling, cropping, normalisation) and their inverse."""

"""BIDS discovery, input validation, label standardisation, cord masks and cross-validation splits."""

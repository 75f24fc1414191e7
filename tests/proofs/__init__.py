"""Proofs of the client core's promises (issue 3, "Proof"), run against the emulator."""

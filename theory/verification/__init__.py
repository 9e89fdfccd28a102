"""The verification of the paper's theory claims built on `theory.ufm`: claims, verify, report, bench."""

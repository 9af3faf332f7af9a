"""Heat accounting per contract (issue 14): hourly figures, reconciliation, statements."""

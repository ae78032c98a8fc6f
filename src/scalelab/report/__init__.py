"""HTML report and plots (imports matplotlib; the numerical rooms do not)."""

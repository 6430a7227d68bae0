"""Sources: the only modules that read AWRA or QBO; each returns canonical frames."""

"""`batch`: answering a list of questions about many clips, resumably, in input order."""

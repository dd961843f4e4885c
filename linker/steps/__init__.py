"""The steps of a link and the jobs that finish them: each returns what happened."""

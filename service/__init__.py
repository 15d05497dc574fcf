"""The gongkai web service: API, jobs, storage, review (issue 5)."""

"""Projects: folders uploaded as archives, one per revision; listed at /api/projects/OWNER/NAME."""

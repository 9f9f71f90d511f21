"""`make soak`: the app under many clients at once (issue 8, section 6)."""

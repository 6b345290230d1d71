"""Online applications: form definitions as data, the form runner, drafts and submissions."""

"""Appeals against decisions: submitted by the user (the public form, or the marketplace
through the API), heard by someone other than the original reviewer, upheld, overturned or
modified."""

"""A sample agency service that signs people in through Civicstack (see ``app``)."""

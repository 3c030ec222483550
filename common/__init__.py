"""The bottom leaf every package imports, and which imports none of them: errors that speak to the user
(`errors`), whole-or-nothing writes (`atomic`) and the one cache root (`cache`)."""

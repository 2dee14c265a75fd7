"""The clinic dashboard: its derived tables (`models`), the rules that keep them equal to the
raw tables (`tallies`), the data-layer hooks that run those rules on every write (`listeners`,
registered explicitly at start-up) and what the dashboard shows (`service`)."""

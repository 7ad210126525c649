"""Ground floor: errors, atomic files, JSON of configs, fingerprints, seeding, figures.

Imports no other package of the project.
"""

"""What the user gave: manifest files read into the model, and the addresses derived for it.

Nothing here knows DNS; the zone package turns the model into records.
"""
